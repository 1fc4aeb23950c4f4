"""interp.attribute_generation: each generated token attributed over what the model saw when it wrote it.

Checked against the Hugging Face model itself (gradient x input through ``inputs_embeds``, no hooks of ours), for
integrated gradients' completeness, and against inseq's integrated gradients on a tiny random GPT-2 (inseq runs
in its own environment, build/inseq-venv from ``make inseq-venv``, as the benchmarks run it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import interp
from interp.errors import InputError
from interp.results import GenerationAttributionResult

ROOT = Path(__file__).resolve().parents[1]
INSEQ_PYTHON = ROOT / "build" / "inseq-venv" / "bin" / "python"
INSEQ_READY = ROOT / "build" / "inseq-venv" / ".installed"
CAUSAL_PROMPT = "the keys to the cabinet"
MASKED_PROMPT = "the keys to the ___ are here ."


def hf_input_x_gradient(folder: str, cls, row: np.ndarray, read: int, token: int, suppress=()) -> np.ndarray:
    """Gradient x input of the token's probability at ``read``, straight from the Hugging Face model."""
    hf = cls.from_pretrained(folder, attn_implementation="eager").eval()
    ids = torch.as_tensor(row, dtype=torch.long)[None]
    emb = hf.get_input_embeddings()(ids).detach().requires_grad_(True)
    logits = hf(inputs_embeds=emb).logits[0, read]
    if suppress:
        logits = logits.index_fill(-1, torch.tensor(sorted(suppress)), -torch.inf)
    logits.softmax(-1)[token].backward()
    return (emb.grad * emb).sum(-1)[0].detach().double().numpy()


@pytest.fixture(scope="module")
def causal_runs(tiny_model):
    m = tiny_model("gpt2")
    kw = dict(progress=False)
    return (
        m,
        interp.attribute_generation(m, CAUSAL_PROMPT, 3, n_steps=32, **kw),
        interp.attribute_generation(m, CAUSAL_PROMPT, 3, method="input_x_gradient", **kw),
    )


@pytest.fixture(scope="module")
def masked_runs(tiny_model):
    m = tiny_model("bert")
    kw = dict(steps=2, order="confidence", progress=False)
    return (
        m,
        interp.attribute_generation(m, MASKED_PROMPT, 3, n_steps=32, **kw),
        interp.attribute_generation(m, MASKED_PROMPT, 3, method="input_x_gradient", **kw),
    )


def test_causal_tokens_are_attributed_over_the_prefix_before_them(causal_runs, tiny_folder):
    import transformers as tf

    m, ig, ixg = causal_runs
    gen = ig.generation
    g = gen.generated
    assert gen.generator == "causal" and len(g) == 3
    np.testing.assert_allclose(ig.values, gen.commit_prob[g], atol=1e-6)  # the value generation committed at
    for row, p in enumerate(g):
        assert np.isfinite(ig.scores[row, :p]).all() and np.isnan(ig.scores[row, p:]).all()
    assert (ig.scores[:, 0] == 0).all()  # [BOS] keeps its embedding in the baseline
    # completeness: the scores add up to f(x) - f(baseline), up to the reported delta
    total = np.nansum(ig.scores, axis=1)
    np.testing.assert_allclose(total - (ig.values - ig.baseline_values), ig.deltas, atol=1e-6)
    assert ig.completeness_error().max() < 0.01
    for row, p in enumerate(g):  # gradient x input through the HF model's inputs_embeds
        want = hf_input_x_gradient(
            tiny_folder("gpt2"), tf.GPT2LMHeadModel, gen.tokens[-1, :p], p - 1, gen.tokens[-1, p]
        )
        np.testing.assert_allclose(ixg.scores[row, :p], want, atol=1e-6, rtol=1e-4)
    assert np.isnan(ixg.deltas).all() and ixg.baseline == "none"


def test_masked_tokens_are_attributed_at_their_commit_step_with_masks_as_inputs(masked_runs, tiny_folder):
    import transformers as tf

    m, ig, ixg = masked_runs
    gen = ig.generation
    g = gen.generated
    assert gen.generator in ("masked", "diffusion") and gen.steps == 2 and len(g) == 3
    np.testing.assert_allclose(ig.values, gen.commit_prob[g], atol=1e-6)
    assert np.isfinite(ig.scores).all()  # every position of the row is an input, masks included
    suppress = m.special_ids | {m.mask_token_id}
    saw_open_mask = False
    for row, p in enumerate(g):
        s = int(gen.commit_step[p])
        seen = ig.source_tokens(s)
        still_masked = [q for q in g if gen.commit_step[q] >= s]
        assert [i for i, t in enumerate(seen) if t == "[MASK]"] == still_masked  # the row that step saw
        others = [q for q in still_masked if q != p]
        saw_open_mask |= bool(others) and bool(np.abs(ig.scores[row, others]).max() > 0)
        want = hf_input_x_gradient(
            tiny_folder("bert"), tf.BertForMaskedLM, gen.tokens[s - 1], p, gen.tokens[-1, p], suppress
        )
        np.testing.assert_allclose(ixg.scores[row], want, atol=1e-6, rtol=1e-4)
    assert saw_open_mask  # a mask still open at that step is an input of its own, with a score
    total = ig.scores.sum(1)
    np.testing.assert_allclose(total - (ig.values - ig.baseline_values), ig.deltas, atol=1e-6)
    assert ig.completeness_error().max() < 0.05


def test_logprob_objective_and_baselines(tiny_model):
    m = tiny_model("gpt2")
    a = interp.attribute_generation(m, CAUSAL_PROMPT, 1, objective="logprob", n_steps=8, progress=False)
    b = interp.attribute_generation(
        m, CAUSAL_PROMPT, 1, objective="logprob", baseline="zero", n_steps=8, progress=False
    )
    np.testing.assert_allclose(a.values, np.log(a.generation.commit_prob[a.generated]), atol=1e-5)
    assert a.baseline == "pad" and b.baseline == "zero"
    assert not np.allclose(
        a.baseline_values, b.baseline_values
    )  # another starting point, another f(baseline)
    with pytest.raises(InputError, match="method"):
        interp.attribute_generation(m, CAUSAL_PROMPT, 1, method="occlusion")
    with pytest.raises(InputError, match="objective"):
        interp.attribute_generation(m, CAUSAL_PROMPT, 1, objective="logit")
    with pytest.raises(InputError, match="no mask token"):
        interp.attribute_generation(m, CAUSAL_PROMPT, 1, baseline="mask")
    with pytest.raises(InputError, match="n_tokens"):
        interp.attribute_generation(m, CAUSAL_PROMPT, 0)
    with pytest.raises(InputError, match="steps"):  # generate's own rule: a causal model writes one per step
        interp.attribute_generation(m, CAUSAL_PROMPT, 2, steps=1)


def test_view_shows_the_tokens_committed_up_to_each_step(masked_runs, tmp_path):
    import widgets
    from widgets.generation_attribution import generation_attribution_figure

    _, ig, _ = masked_runs
    gen = ig.generation
    full = widgets.figure(ig)
    z = np.array(full.data[0].z, dtype=float)  # (T, G), None -> NaN
    np.testing.assert_allclose(z, np.round(ig.scores.T, 6), atol=1e-9)
    first = generation_attribution_figure(ig, step=1)
    z1 = np.array(first.data[0].z, dtype=float)
    later = gen.commit_step[gen.generated] > 1
    assert later.any() and np.isnan(z1[:, later]).all() and np.isfinite(z1[:, ~later]).all()
    assert sum("[MASK]" in t for t in first.layout.yaxis.ticktext) == len(
        gen.generated
    )  # nothing decided yet
    assert len(first.layout.shapes) == int((~later).sum())  # the step's own columns outlined
    view = widgets.view(ig)
    slider = next(c for c in view.children if type(c).__name__ == "IntSlider")
    fig = next(c for c in view.children if hasattr(c, "data"))
    slider.value = 1
    assert np.isnan(np.array(fig.data[0].z, dtype=float)[:, later]).all()
    path = ig.save(tmp_path / "attr")
    back = interp.load_result(path)
    assert isinstance(back, GenerationAttributionResult) and np.array_equal(
        back.scores, ig.scores, equal_nan=True
    )


@pytest.mark.skipif(
    not INSEQ_READY.exists() and not os.environ.get("CI"),
    reason="inseq's environment is not built here: make inseq-venv (.ci/run builds it, and under CI=true this runs)",
)
def test_causal_integrated_gradients_equal_inseqs(tiny_folder, tmp_path):
    """Same model, prompt, generated tokens, steps (Gauss-Legendre, captum's default) and baseline (the unknown
    token's embedding, specials kept: inseq's default): the same scores within 1e-4."""
    import transformers as tf

    folder = tmp_path / "gpt2"
    tok = tf.AutoTokenizer.from_pretrained(tiny_folder("gpt2"))
    config = tf.GPT2Config(
        vocab_size=len(tok),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=4,
        bos_token_id=5,
        eos_token_id=5,
        pad_token_id=0,
        initializer_range=0.3,  # wide enough weights that probabilities are far from uniform
    )
    torch.manual_seed(0)
    tf.GPT2LMHeadModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    m = interp.load(str(folder))
    ours = interp.attribute_generation(
        m, CAUSAL_PROMPT, 4, n_steps=16, integral="gausslegendre", baseline="unk", progress=False
    )
    gen = ours.generation
    ids = ",".join(str(int(i)) for i in gen.tokens[-1, gen.generated])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    out = subprocess.run(
        [
            str(INSEQ_PYTHON),
            str(ROOT / "tests" / "inseq_generation_worker.py"),
            str(folder),
            CAUSAL_PROMPT,
            ids,
            "16",
            "prob",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    assert theirs["tokens"] == gen.tokens[-1].tolist()  # inseq read the same tokens
    scores = np.array([[np.nan if x is None else x for x in row] for row in theirs["scores"]]).T  # (G, T)
    np.testing.assert_allclose(theirs["probability"], ours.values, atol=1e-6)
    assert np.array_equal(np.isnan(scores), np.isnan(ours.scores))
    gap = np.nanmax(np.abs(scores - ours.scores))
    assert gap <= 1e-4, gap
    assert np.nanmax(np.abs(ours.scores)) > 1e-2  # the scores compared are far above the tolerance


def test_the_magic_runs_it(tiny_model):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "interp")
    try:
        shell.user_ns["m"] = tiny_model("gpt2")
        line = 'attribute_generation m "the keys to the" --n 2 --n_steps 4 --objective logprob'
        r = shell.run_line_magic("interp", line)
        assert isinstance(r, GenerationAttributionResult) and len(r.generated) == 2
        assert r.objective == "logprob" and r.settings["n_steps"] == 4
    finally:
        shell.run_line_magic("unload_ext", "interp")
