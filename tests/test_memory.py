"""Memory before work: interp.estimate_memory for every analysis, the refusal past the free memory (with the
estimate in the message, before any forward pass) and check_memory=False; patching in chunks gives the same
scores. The estimates' accuracy is measured in benchmarks/bench_memory.py (gpt2-small shape)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import count_hooks

import interp
from interp import checks, errors
from interp.analysis import memory
from interp.models.handle import Model

PROBE = "the keys to the cabinet ___ on the table ."
CORRUPT = "the key to the cabinet ___ on the table ."

CALLS = {
    "attention": lambda m, **k: interp.attention(m, PROBE, **k),
    "logit_lens": lambda m, **k: interp.logit_lens(m, PROBE, **k),
    "attribute": lambda m, **k: interp.attribute(m, PROBE, method="saliency", **k),
    "patch": lambda m, **k: interp.patch(m, PROBE, CORRUPT, progress=False, **k),
    "ablate": lambda m, **k: interp.ablate(m, PROBE, [(0, 0)], **k),
    "head_importance": lambda m, **k: interp.head_importance(m, PROBE, progress=False, **k),
    "decompose": lambda m, **k: interp.decompose(m, PROBE, **k),
}
ESTIMATE_ARGS = {
    "attention": (PROBE, {}),
    "logit_lens": (PROBE, {}),
    "attribute": (PROBE, {"method": "saliency"}),
    "patch": (PROBE, {}),
    "ablate": (PROBE, {}),
    "head_importance": (PROBE, {}),
    "decompose": (PROBE, {}),
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
        (lambda: interp.estimate_memory(m, "The keys", 10), "use one of attention, logit_lens"),
        (lambda: interp.estimate_memory(m, "attention", 10, n_steps=3), "unknown keyword(s) n_steps"),
        (lambda: interp.estimate_memory(m, "attention", 0), "text_or_T must be"),
        (lambda: interp.estimate_memory(m, "attention", 10**6), "text_or_T must be"),
        (lambda: interp.estimate_memory(m, "attention", 2.5), "text_or_T must be"),
        (lambda: interp.estimate_memory(m, "attribute", 10, n_steps=10**9), "n_steps"),
        (lambda: interp.estimate_memory(m, "logit_lens", 10, chunk=0), "chunk"),
        (lambda: interp.estimate_memory(object(), "attention", 10), "must be a model"),
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
