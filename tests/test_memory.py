"""Memory before work: interp.estimate_memory for every analysis, the refusal past the free memory (with the
estimate in the message, before any forward pass) and check_memory=False; patching in chunks gives the same
scores. The estimates' accuracy is measured in benchmarks/bench_memory.py (gpt2-small shape)."""

from __future__ import annotations

import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import count_hooks

import interp
from interp import checks, errors
from interp.analysis import memory
from interp.models.handle import Model

PROBE = "the keys to the cabinet ___ on the table ."
CORRUPT = "the key to the cabinet ___ on the table ."
TEXTS = ["the dog barked .", "the keys to the cabinet are on the table ."]

CALLS = {
    "attention": lambda m, **k: interp.attention(m, PROBE, **k),
    "logit_lens": lambda m, **k: interp.logit_lens(m, PROBE, **k),
    "attribute": lambda m, **k: interp.attribute(m, PROBE, method="saliency", **k),
    "patch": lambda m, **k: interp.patch(m, PROBE, CORRUPT, progress=False, **k),
    "ablate": lambda m, **k: interp.ablate(m, PROBE, [(0, 0)], **k),
    "head_importance": lambda m, **k: interp.head_importance(m, PROBE, progress=False, **k),
    "decompose": lambda m, **k: interp.decompose(m, PROBE, **k),
    "induction_scores": lambda m, **k: interp.induction_scores(m, 5, n_seqs=1, **k),
    "generate": lambda m, **k: interp.generate(m, "the dog", 5, lens=True, **k),
    "attribute_generation": lambda m, **k: interp.attribute_generation(
        m, "the dog", 3, n_steps=8, progress=False, **k
    ),
    "tuned_lens": lambda m, **k: interp.tuned_lens(m, TEXTS, steps=1, batch_size=2, progress=False, **k),
    "score": lambda m, **k: interp.score(m, TEXTS, progress=False, **k),
    "path_patch": lambda m, **k: interp.path_patch(m, PROBE, CORRUPT, answer="are", progress=False, **k),
    "attribution_patch": lambda m, **k: interp.attribution_patch(
        m, PROBE, CORRUPT, answer="are", progress=False, **k
    ),
}
ESTIMATE_ARGS = {
    "attention": (PROBE, {}),
    "logit_lens": (PROBE, {}),
    "attribute": (PROBE, {"method": "saliency"}),
    "patch": (PROBE, {}),
    "ablate": (PROBE, {}),
    "head_importance": (PROBE, {}),
    "decompose": (PROBE, {}),
    "induction_scores": (5, {"n_seqs": 1}),
    "generate": ("the dog", {"n_tokens": 5, "lens": True}),
    "attribute_generation": ("the dog", {"n_tokens": 3, "n_steps": 8}),
    "tuned_lens": (TEXTS, {"steps": 1, "batch_size": 2}),
    "score": (TEXTS, {}),
    "path_patch": (PROBE, {}),
    "attribution_patch": (PROBE, {}),
}


@pytest.mark.parametrize("which", ["causal", "bidirectional"])
def test_every_analysis_has_an_estimate_that_grows_with_the_text(which, request):
    m = request.getfixturevalue(which)
    for name in memory.ESTIMATES:
        small, large = interp.estimate_memory(m, name, 8), interp.estimate_memory(m, name, 40)
        assert isinstance(small, int) and 0 < small < large, name
        assert interp.estimate_memory(m, name, *ESTIMATE_ARGS[name][:1], **ESTIMATE_ARGS[name][1]) > 0
    # integrated gradients: one internal batch of steps, so more steps need more (up to the batch budget)
    ig = [interp.estimate_memory(m, "attribute", 20, n_steps=n, tolerance=None) for n in (2, 8)]
    assert ig[0] < ig[1]
    assert interp.estimate_memory(m, "attribute", 20, method="saliency") < ig[1]
    assert interp.estimate_memory(m, "logit_lens", 20, chunk=1) <= interp.estimate_memory(m, "logit_lens", 20)


def test_estimate_memory_checks_its_arguments(causal):
    m = causal
    for call, fragment in (
        (lambda: interp.estimate_memory(m, "lens", 10), "unknown analysis_name 'lens'"),
        (
            lambda: interp.estimate_memory(m, "The keys", 10),
            "use one of attention, induction_scores, logit_lens",
        ),
        (lambda: interp.estimate_memory(m, "attention", 10, n_steps=3), "unknown keyword(s) n_steps"),
        (lambda: interp.estimate_memory(m, "attention", 0), "text_or_T must be"),
        (lambda: interp.estimate_memory(m, "attention", 10**6), "text_or_T must be"),
        (lambda: interp.estimate_memory(m, "attention", 2.5), "text_or_T must be"),
        (lambda: interp.estimate_memory(m, "attribute", 10, n_steps=10**9), "n_steps"),
        (lambda: interp.estimate_memory(m, "logit_lens", 10, chunk=0), "chunk"),
        (lambda: interp.estimate_memory(object(), "attention", 10), "must be a model"),
        (lambda: interp.estimate_memory(m, "ablate", 10, heads=[(9, 9)]), "head (9, 9) does not exist"),
        (lambda: interp.estimate_memory(m, "head_importance", 10, mode="bogus"), "unknown ablation mode"),
    ):
        with pytest.raises(errors.InputError, match=None) as info:
            call()
        assert fragment in str(info.value), str(info.value)
    # the analysis's own keywords are accepted, also those that do not change memory
    assert interp.estimate_memory(m, "patch", PROBE, corrupt=CORRUPT, hook="mlp_out", progress=False) > 0
    assert interp.estimate_memory(m, "ablate", PROBE, heads=[(0, 0)], mode="zero", answer="are") > 0


def test_analyses_refuse_past_the_free_memory_before_any_forward_pass(causal, monkeypatch):
    m = causal
    forwards = []
    real_forward = Model._forward
    monkeypatch.setattr(Model, "_forward", lambda self, *a: forwards.append(1) or real_forward(self, *a))
    monkeypatch.setattr(checks, "available_memory", lambda device: 2**16)  # 64 KiB free
    base = count_hooks(m.bridge)
    for name, call in CALLS.items():
        need = interp.estimate_memory(m, name, *ESTIMATE_ARGS[name][:1], **ESTIMATE_ARGS[name][1])
        with pytest.raises(errors.ResourceError) as info:
            call(m)
        message = str(info.value)
        assert f"would need about {checks.size(need)}" in message, (name, message)
        assert "only 64.0 KiB is available on cpu" in message and "check_memory=False" in message
    assert forwards == [], "a refusal came after a forward pass"
    assert count_hooks(m.bridge) == base
    for name in ("attention", "ablate", "decompose"):  # overridden: they run
        assert CALLS[name](m, check_memory=False) is not None
    with pytest.raises(errors.InputError, match="check_memory must be True or False"):
        interp.attention(m, PROBE, check_memory="no")


@pytest.mark.parametrize("which", ["causal", "bidirectional"])
def test_patching_in_chunks_gives_the_same_scores(which, request, monkeypatch):
    m = request.getfixturevalue(which)
    whole = interp.patch(m, PROBE, CORRUPT, progress=False)
    monkeypatch.setattr(memory, "CHUNK_BUDGET", 1)  # one position per forward pass
    assert memory.patch_chunk(m, 1, 12) == 1
    chunked = interp.patch(m, PROBE, CORRUPT, progress=False)
    assert np.abs(whole.restored - chunked.restored).max() <= 1e-5


GPT2_SMALL = SimpleNamespace(
    dtype=torch.float32,
    n_layers=12,
    n_heads=12,
    d_model=768,
    d_mlp=3072,
    d_vocab=50257,
    n_ctx=10**6,
    device=torch.device("cpu"),
    name="gpt2-small shape",
    remote=False,
    tokenizer=None,
)


@pytest.mark.parametrize(
    ("analysis", "rows", "settings", "at_least"),
    [
        ("induction_scores", 1, {}, 3 * 2**30),
        ("generate", 1, {"new": 100, "steps": 100, "lens": True, "top_k": 5}, 3 * 2**30),
        ("tuned_lens", 16, {}, 3 * 2**30),
    ],
)
def test_a_huge_text_is_refused_before_any_allocation(analysis, rows, settings, at_least, monkeypatch):
    """T = 20,000 at gpt2-small shape: gigabytes (the issue saw 3-6 GB blocks), refused with 8 GiB free while
    nothing is allocated (the estimate is arithmetic on the shape)."""
    need = memory.need(GPT2_SMALL, analysis, 20_000, rows, **settings)
    assert need >= at_least, checks.size(need)
    monkeypatch.setattr(checks, "available_memory", lambda device: 8 * 2**30)
    tracemalloc.start()
    try:
        with pytest.raises(errors.ResourceError, match=f"{analysis} on 20000 tokens") as info:
            memory.require(GPT2_SMALL, analysis, 20_000, rows, **settings)
        assert tracemalloc.get_traced_memory()[1] < 2**20  # no block of the work was made
    finally:
        tracemalloc.stop()
    assert "8.0 GiB is available" in str(info.value) and "check_memory=False" in str(info.value)
    assert memory.require(GPT2_SMALL, analysis, 20_000, rows, enabled=False, **settings) == need


@pytest.mark.parametrize("which", ["causal", "tiny-diffusion"])
def test_the_estimate_of_generate_with_its_lens_is_near_its_measured_peak(which, request):
    """The lens's top-k at every step, layer and written position dominates a small model's generation (the
    issue's 1.5 GB on a 3 MB model: a masked model unmasking 119 positions with top_k=249); numpy's blocks are
    what tracemalloc sees, and the estimate is within a band of their peak (1.00x for that case here)."""
    m = request.getfixturevalue(which) if which == "causal" else interp.load(which)
    n, k, prompt = 40, 100, "the dog barked ."
    need = interp.estimate_memory(m, "generate", prompt, n_tokens=n, lens=True, top_k=k)
    interp.generate(m, prompt, 2, lens=True)  # warm-up (imports, lasting hooks)
    tracemalloc.start()
    try:
        result = interp.generate(m, prompt, n, lens=True, top_k=k)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.lens_top_ids.shape == (n, m.n_layers + 1, n, k)
    assert 0.7 <= need / peak <= 1.5, (checks.size(need), checks.size(peak))
    small = interp.estimate_memory(m, "generate", prompt, n_tokens=n, lens=True, top_k=1)
    assert small < need / 10 and interp.estimate_memory(m, "generate", prompt, n_tokens=n) < small


def test_induction_and_tuned_lens_estimates_follow_their_arguments(causal, bidirectional):
    for m in (causal, bidirectional):
        assert interp.estimate_memory(m, "induction_scores", 4) < interp.estimate_memory(
            m, "induction_scores", 30
        )
        one = interp.estimate_memory(m, "tuned_lens", TEXTS, batch_size=1)
        assert one < interp.estimate_memory(m, "tuned_lens", TEXTS, batch_size=8)
        assert interp.estimate_memory(m, "tuned_lens", 20, batch_size=1) < one * 2
    too_long = causal.n_ctx // 2 + 1  # repeated twice (and a BOS where the model reads one) it does not fit
    with pytest.raises(errors.InputError, match=f"seq_len {too_long} repeated twice does not fit"):
        interp.estimate_memory(causal, "induction_scores", too_long)
    with pytest.raises(errors.InputError, match="texts must be a non-empty list"):
        interp.estimate_memory(causal, "tuned_lens", [])
    with pytest.raises(errors.InputError, match="unknown keyword"):
        interp.estimate_memory(causal, "generate", "the dog", n_tokens=3, chunk=2)
