"""The nnsight engine, run locally: on tiny random models of every family it knows (seven), every analysis it
offers gives the bridge engine's results within 1e-5; the others are an error that names the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import interp
from interp import errors
from interp.analysis import registry
from interp.models.nnsight_decompose import PATHS, NNsightReader
from interp.models.nnsight_engine import LOCAL_CAPABILITIES, REMOTE_CAPABILITIES, SITES

PROBE = "the keys to the cabinet ___ on the table ."
CORRUPT = "the key to the cabinet ___ on the table ."
TOL = 1e-5


@pytest.fixture(scope="module", params=sorted(SITES))
def engines(request, tiny_folder):
    folder = tiny_folder(request.param)
    return interp.load(folder, device="cpu"), interp.load(folder, device="cpu", engine="nnsight")


def _close(x, y, what: str) -> None:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    assert x.shape == y.shape, what
    assert np.abs(x - y).max(initial=0.0) <= TOL, (what, np.abs(x - y).max())


def test_every_hook_point_and_the_logits_match_the_bridge(engines):
    bridge, nn = engines
    assert repr(nn).endswith("engine='nnsight')") and nn.engine == "nnsight"
    tokens = bridge.to_tokens(PROBE)
    assert torch.equal(tokens, nn.to_tokens(PROBE))  # both engines tokenize alike (BOS or not)
    names = nn.hook_names()
    assert len(names) == 1 + 6 * nn.n_layers  # every per-block point, on every family
    logits_b, cache_b = bridge.run_with_cache(tokens, names=names)
    logits_n, cache_n = nn.run_with_cache(tokens, names=names)
    _close(logits_b, logits_n, "logits")
    for name in names:
        _close(cache_b[name], cache_n[name], name)


def test_every_offered_analysis_matches_the_bridge(engines):
    bridge, nn = engines
    out = {}
    for m in (bridge, nn):
        p = interp.patch(m, PROBE, CORRUPT, progress=False)
        q = interp.patch(m, PROBE, CORRUPT, hook="attn_out", progress=False)
        out[m] = {
            "attention": interp.attention(m, PROBE).patterns,
            "induction": interp.induction_scores(m, seq_len=4, n_seqs=1).scores,
            "lens": interp.logit_lens(m, PROBE).answer_prob,
            "lens kl": interp.logit_lens(m, PROBE).kl,
            # patched minus corrupt difference (restored times the gap: on a random model the gap is tiny)
            "patch": p.restored * (p.clean_diff - p.corrupt_diff),
            "patch attn_out": q.restored * (q.clean_diff - q.corrupt_diff),
            "ablate": interp.ablate(m, PROBE, [(0, 1), (1, 2)]).prob_after,
            "mean ablate": interp.ablate(
                m, PROBE, [(1, 0)], mode="mean", reference=[PROBE, CORRUPT]
            ).prob_after,
            "head importance": interp.head_importance(m, PROBE, progress=False).effects,
            **{
                f"attribute {method}": interp.attribute(m, PROBE, method=method, n_steps=8).scores
                for method in ("integrated_gradients", "saliency", "input_x_gradient", "occlusion")
            },
        }
    for key in out[bridge]:
        _close(out[bridge][key], out[nn][key], key)
    assert interp.estimate_memory(nn, "attention", PROBE) == interp.estimate_memory(
        bridge, "attention", PROBE
    )


def _same_decomposition(a, b) -> None:
    """Equal shares per component; a component only one engine names must be exactly zero (the bridge gives a
    causal head without a bias a zero bias of its own)."""
    assert a.answer_ids == b.answer_ids and a.contrast_ids == b.contrast_ids
    _close(a.target, b.target, "target")
    share_a, share_b = dict(zip(a.labels, a.contributions)), dict(zip(b.labels, b.contributions))
    for label in share_a.keys() | share_b.keys():
        _close(share_a.get(label, 0.0), share_b.get(label, 0.0), label)
    assert abs(b.approximation_error) <= 1e-4 * (1 + abs(b.target))
    assert [x for x in a.labels if x in share_b] == [x for x in b.labels if x in share_a]  # same order


@pytest.mark.parametrize("arch", sorted(PATHS))
def test_decompose_matches_the_bridge_on_every_family(arch, tiny_folder):
    assert set(PATHS) == set(SITES)
    folder = tiny_folder(arch)
    bridge, nn = interp.load(folder, device="cpu"), interp.load(folder, device="cpu", engine="nnsight")
    top = interp.decompose(bridge, PROBE)
    frame = bridge.frame(PROBE)
    with torch.no_grad():
        second = int(bridge(frame.tokens)[0, frame.position].topk(2).indices[1])
    answer, contrast = top.answer_ids[0], second
    for kwargs in ({}, {"answer": answer, "contrast": contrast}):
        _same_decomposition(interp.decompose(bridge, PROBE, **kwargs), interp.decompose(nn, PROBE, **kwargs))
    reader = NNsightReader(nn)  # what a remote run sends back: the read position's activations alone
    cache, at = reader.run(frame.tokens, reader.parts(), frame.position)
    assert at == 0 and cache and all(tuple(v.shape[:2]) == (1, 1) for v in cache.values())
    with nn.hooks({"blocks.0.attn.hook_z": lambda z, hook: z * 0}):
        with pytest.raises(errors.EngineError, match="does not apply hook functions attached"):
            interp.decompose(nn, PROBE)
    assert nn.engine_impl._edits == {}


@pytest.mark.parametrize("name", ["tiny-causal", "tiny-diffusion"])
def test_generation_matches_the_bridge(name):
    bridge, nn = interp.load(name), interp.load(name, engine="nnsight")
    prompt = "the keys to the cabinet ___ on the table ." if bridge.kind != "causal" else "the keys to the"
    for kwargs in ({}, {"lens": True, "order": "random", "steps": 2}):
        if bridge.kind == "causal" and "steps" in kwargs:
            kwargs = {"lens": True}
        a, b = interp.generate(bridge, prompt, 3, **kwargs), interp.generate(nn, prompt, 3, **kwargs)
        assert a.text == b.text and np.array_equal(a.tokens, b.tokens)
        _close(a.commit_prob[a.commit_step > 0], b.commit_prob[b.commit_step > 0], "commit probabilities")
        if kwargs.get("lens"):
            assert np.array_equal(a.lens_top_ids, b.lens_top_ids)
            kept = ~np.isnan(a.lens_top_probs)  # steps that read fewer positions leave NaN rows
            assert kept.any() and np.array_equal(kept, ~np.isnan(b.lens_top_probs))
            _close(a.lens_top_probs[kept], b.lens_top_probs[kept], "lens")


def test_hooks_edit_the_nnsight_forward_pass(engines):
    bridge, nn = engines
    tokens = bridge.to_tokens(PROBE)

    def zero_head(z, hook):
        z[:, :, 1] = 0  # in place, as TransformerLens hooks may
        assert isinstance(hook.name, str)

    with bridge.hooks({"blocks.0.attn.hook_z": zero_head}):
        a = bridge.forward(tokens)
    with nn.hooks({"blocks.0.attn.hook_z": zero_head}):
        b = nn.forward(tokens)
    _close(a, b, "edited logits")
    assert not torch.allclose(b, nn.forward(tokens))  # the edit is gone after the block

    def double(x, hook):
        return 2 * x

    def plus_one(x, hook):
        return x + 1

    site = "blocks.0.hook_resid_post"  # nested blocks on one hook point: outer then inner, on both engines
    with bridge.hooks({site: double}), bridge.hooks({site: plus_one}):
        a = bridge.forward(tokens)
    with nn.hooks({site: double}), nn.hooks({site: plus_one}):
        b = nn.forward(tokens)
    _close(a, b, "nested edits")
    with bridge.hooks({site: plus_one}):
        assert not torch.allclose(a, bridge.forward(tokens))  # the inner edit alone gives other logits
    with pytest.raises(errors.HookError, match="must return None or a tensor"):
        with nn.hooks({"blocks.0.hook_resid_post": lambda x, hook: x[:, :1]}):
            nn.forward(tokens)
    with pytest.raises(errors.HookNameError, match="nnsight engine has no hook point"):
        nn.run_with_cache(tokens, names=["blocks.0.ln1.hook_scale"])


def test_analyses_it_does_not_offer_name_the_engine(engines):
    _, nn = engines
    calls = {
        "compare": lambda: interp.compare(nn, nn, PROBE),
        "tuned_lens": lambda: interp.tuned_lens(nn, [PROBE], steps=1),
        "attribute": lambda: interp.attribute(nn, PROBE, method="saliency"),
    }
    for remote in (False, True):
        nn.engine_impl.remote = (
            remote  # the capability table alone (no remote run starts: the check comes first)
        )
        assert nn.remote is remote and ("remote=True" in repr(nn)) == remote
        try:
            for name, call in calls.items():
                if name == "attribute" and not remote:
                    continue
                with pytest.raises(errors.EngineError) as info:
                    call()
                message = str(info.value)
                assert f"{name} is not available with the nnsight engine running" in message
                assert "engine='bridge'" in message and ("remotely" in message) == remote
                assert ("sends back saved values, not gradients" in message) == (name == "attribute")
        finally:
            nn.engine_impl.remote = False
        assert nn.engine_impl._edits == {}
    local, remote = set(registry.runs_with(LOCAL_CAPABILITIES)), set(registry.runs_with(REMOTE_CAPABILITIES))
    gradients = {a.name for a in registry.analyses() if "gradients" in a.needs}
    assert "attention" in remote and local - remote == gradients & local and "attribute" in gradients
    assert not {"compare", "tuned_lens"} & local
    with pytest.raises(errors.EngineError, match="tuned lens is not available with the nnsight engine"):
        interp.logit_lens(nn, PROBE, lens="tuned")  # not "train translators first": they would not be found


def test_engine_and_remote_are_checked(tiny_folder):
    folder = tiny_folder("gpt2")
    with pytest.raises(errors.InputError, match="unknown engine 'bridges'"):
        interp.load(folder, engine="bridges")
    with pytest.raises(
        errors.InputError, match="no local vLLM engine.*engine='nnsight', remote=True.*torch==2.14.0"
    ):
        interp.load(folder, engine="vllm")
    with pytest.raises(errors.ModelLoadError, match="remote=True runs through nnsight"):
        interp.load(folder, remote=True)
    with pytest.raises(errors.InputError, match="remote must be True or False"):
        interp.load(folder, engine="nnsight", remote="yes")


def test_a_trace_that_reads_no_logits_stops_before_the_unembedding(engines):
    """Caches stopped early and decompose never run the model's own unembedding over every position (the lens
    reads residual streams through them, then decodes them itself)."""
    _, nn = engines
    tokens = nn.to_tokens(PROBE)
    shapes: list[tuple[int, ...]] = []
    hf = nn.engine_impl.hf_model
    handle = hf.get_output_embeddings().register_forward_hook(lambda mod, inp, out: shapes.append(out.shape))
    try:
        nn.run_with_cache(tokens, names=["blocks.0.hook_resid_post"], stop_after="blocks.0.hook_resid_post")
        interp.decompose(nn, PROBE)
        assert shapes == [(nn.d_vocab,)], shapes  # decompose's one row at the read position
        nn.forward(tokens)
        assert shapes[-1] == (1, tokens.shape[1], nn.d_vocab)  # a forward pass still does
    finally:
        handle.remove()


def test_low_precision_heads_are_not_rounded_with_the_bias(tiny_folder, tmp_path):
    """A bfloat16 model whose attention output bias dwarfs its head writes: each head's share on the nnsight
    engine is its write alone (float64, without the bias), as on the bridge engine, not a difference of two
    rounded sums that loses the head."""
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(tiny_folder("gpt2"))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for block in hf.transformer.h:
            block.attn.c_proj.bias.copy_(20 * torch.randn(block.attn.c_proj.bias.shape, generator=gen))
    hf.save_pretrained(tmp_path)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        src = Path(tiny_folder("gpt2")) / f
        if src.exists():
            (tmp_path / f).write_bytes(src.read_bytes())
    shares = {}
    for engine in ("bridge", "nnsight"):
        m = interp.load(tmp_path, device="cpu", dtype="bfloat16", engine=engine)
        r = interp.decompose(m, PROBE, answer=5)
        shares[engine] = {k: v for k, v in zip(r.labels, r.contributions) if k.startswith("L")}
    heads = [k for k in shares["bridge"] if "H" in k]
    scale = max(abs(shares["bridge"][k]) for k in heads)
    for k in heads:  # the two engines' z differ by bfloat16 rounding only
        assert abs(shares["bridge"][k] - shares["nnsight"][k]) <= 0.05 * scale, (k, shares)
