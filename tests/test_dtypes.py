"""Lower precision: ``interp.load(..., dtype="bfloat16" | "float16")`` and ``wrap`` of such a model. Every analysis
runs, statistics come out in float32, and each result stays within the tolerance docs/howto.md states of the
same weights in float32 (tiny random models of every family, with their own kind of tokenizer)."""

import numpy as np
import pytest
import torch
from subword_tokenizers import BY_NAME, save_model
from test_subword import corrupted, probes_for

import interp
from interp.models import hooks as _hooks

FAMILIES = ["gpt2", "gpt_neox", "opt", "llama2", "qwen2", "bert", "roberta"]
DTYPES = ["bfloat16", "float16"]
# The stated tolerances (docs/howto.md, "Lower precision"): absolute on logits, log-probabilities, attention
# weights and IG's completeness gap; relative to (1 + max |value|) on the residual stream.
TOL = {
    "bfloat16": {"logits": 1e-2, "resid": 2e-2, "pattern": 5e-3, "ig": 1e-2},
    "float16": {"logits": 1e-3, "resid": 2e-3, "pattern": 5e-4, "ig": 1e-3},
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    made = {}

    def get(name):
        if name not in made:
            made[name] = save_model(BY_NAME[name], tmp_path_factory.mktemp(name))
        return made[name]

    return get


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", FAMILIES)
def test_parity_with_the_float32_model(name, dtype, folder):
    ref, m = interp.load(folder(name)), interp.load(folder(name), dtype=dtype)
    assert next(m.bridge.original_model.parameters()).dtype == getattr(torch, dtype)
    text = "we saw a quiet owl near the river . anna lives in oslo ."
    if m.kind == "bidirectional":
        text = text.replace("owl", m.tokenizer.mask_token)
    patterns = [f"blocks.{i}.attn.hook_pattern" for i in range(m.n_layers)]
    names = _hooks.resid_names(m) + patterns
    (logits, cache), (ref_logits, ref_cache) = m.run_with_cache(text, names), ref.run_with_cache(text, names)
    tol = TOL[dtype]
    assert (logits.float() - ref_logits).abs().max() <= tol["logits"]
    assert (logits.float().log_softmax(-1) - ref_logits.log_softmax(-1)).abs().max() <= tol["logits"]
    for n in _hooks.resid_names(m):
        assert (cache[n].float() - ref_cache[n]).abs().max() <= tol["resid"] * (
            1 + ref_cache[n].abs().max()
        ), n
    for n in patterns:
        assert (cache[n].float() - ref_cache[n]).abs().max() <= tol["pattern"], n


@pytest.fixture(scope="module", params=DTYPES)
def pairs(request, folder):
    """(dtype, the causal and masked models in that dtype, the same in float32)."""
    low = [interp.load(folder(n), dtype=request.param) for n in ("gpt2", "bert")]
    return request.param, low, [interp.load(folder(n)) for n in ("gpt2", "bert")]


def test_every_analysis_runs_and_stays_near_float32(pairs, tmp_path):
    dtype, (c, b), (c32, b32) = pairs
    tol = TOL[dtype]
    for m, ref in ((c, c32), (b, b32)):
        probe, word, _ = probes_for(ref, seed=1)[-1]  # a multi-token answer, words on both sides

        a, a32 = interp.attention(m, probe), interp.attention(ref, probe)
        assert a.patterns.dtype == np.float32 and np.abs(a.patterns - a32.patterns).max() <= tol["pattern"]
        np.testing.assert_allclose(a.patterns.sum(-1), 1, atol=tol["pattern"])
        s = a.head_stats  # float32 statistics of renormalised rows
        np.testing.assert_allclose(s["past"] + s["self"] + s["future"], 1, atol=1e-5)
        np.testing.assert_allclose(a.rollout.sum(-1), 1, atol=1e-5)

        lens, lens32 = interp.logit_lens(m, probe, answer=word), interp.logit_lens(ref, probe, answer=word)
        assert lens.top_probs.dtype == np.float32 and lens.answer_ids == lens32.answer_ids
        own = torch.softmax(m(m.frame(probe, answer=word).tokens)[0].float(), -1)  # (T, V)
        np.testing.assert_allclose(
            lens.top_probs[-1], own.topk(lens.top_probs.shape[-1], -1).values, atol=1e-6
        )
        np.testing.assert_allclose(lens.kl[-1], 0, atol=1e-6)
        assert np.abs(np.log(lens.answer_prob) - np.log(lens32.answer_prob)).max() <= tol["logits"]

        r, r32 = (interp.attribute(x, probe, answer=word, n_steps=32) for x in (m, ref))
        assert r.delta <= tol["ig"] and abs(r.objective - r32.objective) <= 2 * tol["logits"]
        assert np.abs(r.scores - r32.scores).max() <= 2 * tol["ig"] + 0.05 * np.abs(r32.scores).max()

        d, d32 = interp.decompose(m, probe, answer=word), interp.decompose(ref, probe, answer=word)
        assert abs(d.target - d32.target) <= tol["logits"]
        assert abs(d.approximation_error) <= tol["logits"] + abs(d32.approximation_error)

        ablated = interp.ablate(m, probe, [(0, 0)], answer=word)
        assert np.isfinite([ablated.prob_before, ablated.prob_after]).all()
        importance = interp.head_importance(m, probe, answer=word, progress=False)
        assert importance.effects.shape == (m.n_layers, m.n_heads) and np.isfinite(importance.effects).all()
        p = interp.patch(m, probe, corrupted(m, probe, word), answer=word, progress=False)
        assert np.isfinite(p.restored).all()
        assert interp.induction_scores(m, seq_len=8).scores.shape == (m.n_layers, m.n_heads)
        lens_weights = tmp_path / f"{m.kind}.safetensors"
        interp.tuned_lens(
            m, texts=["anna lives in oslo .", "we saw a quiet owl ."], steps=2, path=lens_weights
        )
        assert interp.logit_lens(m, probe, lens="tuned").top_probs.dtype == np.float32

    probe, word, _ = probes_for(c32, seed=1)[-1]
    cmp, cmp32 = interp.compare(c, b, probe, answer=word), interp.compare(c32, b32, probe, answer=word)
    for run, run32 in ((cmp.causal, cmp32.causal), (cmp.bidirectional, cmp32.bidirectional)):
        assert run.position == run32.position and run.attention.tokens == run32.attention.tokens
    df = interp.compare_suite(c, b, [(probe, word)], method=None, progress=False)
    assert np.isfinite(df.select_dtypes("number").to_numpy(dtype=float)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_wrap_keeps_the_models_dtype(dtype, folder):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    hf = AutoModelForMaskedLM.from_pretrained(folder("roberta"), dtype=getattr(torch, dtype))
    m = interp.wrap(hf, AutoTokenizer.from_pretrained(folder("roberta")))
    assert next(m.bridge.original_model.parameters()).dtype == getattr(torch, dtype)
    probe, word, _ = probes_for(m, seed=3)[-1]
    lens = interp.logit_lens(m, probe, answer=word)
    assert lens.top_probs.dtype == np.float32 and np.isfinite(lens.kl).all()
    assert interp.attribute(m, probe, answer=word, n_steps=16).delta <= TOL[dtype]["ig"]
