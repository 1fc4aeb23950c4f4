"""The analyses on CUDA (``make gpu-check``; the ``gpu`` mark, deselected from the normal run).

Every public analysis on the zoo models, run on the GPU, is within 1e-4 of the same analysis on the CPU: float
arrays and numbers relative to ``max(1, max |CPU value|)``, integers, tokens and texts exactly. A bfloat16
model on the GPU stays within the tolerance docs/howto.md states ("Lower precision") of the float32 weights on
the CPU, on the tiny models of the families that table was measured on (the zoo's logits are about 20 times
larger, and the errors grow with them).

``INTERP_GPU_TEST_DEVICE`` names the device under test (default ``cuda``); ``cpu`` runs the same comparisons
against a second CPU copy of each model, a dry run of this file on a machine without a GPU.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pandas as pd
import pytest
import torch

import interp

DEVICE = os.environ.get("INTERP_GPU_TEST_DEVICE", "cuda")
TOLERANCE = 1e-4
"""CPU vs GPU, float32: relative to ``max(1, max |CPU value|)`` of each array or number."""

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs CUDA"),
]

ZOO = ("tiny-causal", "tiny-bidirectional", "tiny-diffusion")
PROBE = "the keys to the cabinet ___ on the table ."
CLEAN, CORRUPT = "the key to the cabinet ___ on the table .", "the keys to the cabinet ___ on the table ."
PROMPT = "in the evening lena has a blue hat and xena has a red hat ."
NOT_COMPARED = {
    "tuned_lens": "trains translators (minutes); the zoo's own translators are compared through logit_lens",
    "estimate_memory": "arithmetic on shapes, no computation on the device",
}
UNCOMPARED_KEYS = ("internal_batch_size", "batch_size", "device")
"""Settings that follow the device's free memory or name the device, not the numbers."""


def assert_close(got, want, where: str = "result") -> None:
    """``got`` (device under test) equals ``want`` (CPU) within :data:`TOLERANCE`, field by field."""
    if dataclasses.is_dataclass(want) and not isinstance(want, type):
        assert type(got) is type(want), where
        for f in dataclasses.fields(want):
            assert_close(getattr(got, f.name), getattr(want, f.name), f"{where}.{f.name}")
    elif isinstance(want, pd.DataFrame):
        assert list(got.columns) == list(want.columns) and len(got) == len(want), where
        for col in want.columns:
            assert_close(got[col].to_numpy(), want[col].to_numpy(), f"{where}[{col!r}]")
    elif isinstance(want, dict):
        keys = [k for k in want if k not in UNCOMPARED_KEYS]
        assert sorted(map(str, got)) == sorted(map(str, want)), where
        for k in keys:
            assert_close(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, np.ndarray) and want.dtype.kind in "fc":
        scale = max(1.0, float(np.nanmax(np.abs(want)))) if want.size else 1.0
        np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE * scale, equal_nan=True, err_msg=where)
    elif isinstance(want, np.ndarray):
        np.testing.assert_array_equal(got, want, err_msg=where)
    elif isinstance(want, float) and not isinstance(want, bool):
        if math.isnan(want):
            assert math.isnan(got), where
        else:
            assert abs(got - want) <= TOLERANCE * max(1.0, abs(want)), f"{where}: {got} vs {want}"
    else:
        assert got == want, f"{where}: {got!r} vs {want!r}"


@pytest.fixture(scope="module")
def zoo():
    """Each zoo model twice: on the device under test and on the CPU."""
    torch.manual_seed(0)
    return {name: (interp.load(name, device=DEVICE), interp.load(name, device="cpu")) for name in ZOO}


def _runs(zoo):
    """(analysis name, what it computes on a (causal, bidirectional, diffusion) triple of models)."""
    from interp.zoo import corpus
    from interp.zoo import diffusion as zoo_diffusion

    reference = corpus.generate(8, seed=0)
    probes = corpus.probes(n_per_kind=2)
    prompts = zoo_diffusion.prompts(4, seed=2026)
    methods = ("integrated_gradients", "saliency", "input_x_gradient", "occlusion")
    return {
        "attention": lambda c, b, d: [interp.attention(m, PROBE.replace("___", "are")) for m in (c, b)],
        "induction_scores": lambda c, b, d: [interp.induction_scores(m, seq_len=20, seed=0) for m in (c, b)],
        "logit_lens": lambda c, b, d: [
            interp.logit_lens(m, PROBE, answer="are", lens=lens)
            for m in (c, b)
            for lens in ("logit", "tuned")
        ],
        "attribute": lambda c, b, d: [
            interp.attribute(m, PROBE, answer="are", contrast=contrast, method=method)
            for m in (c, b)
            for method in methods
            for contrast in (None, "is")
        ],
        "decompose": lambda c, b, d: [
            interp.decompose(m, PROBE, answer="are", contrast="is") for m in (c, b)
        ],
        "compare": lambda c, b, d: [interp.compare(c, b, PROBE, answer="are")],
        "compare_suite": lambda c, b, d: [interp.compare_suite(c, b, probes, progress=False)],
        "ablate": lambda c, b, d: [
            interp.ablate(m, CLEAN, [(2, 3), (3, 1)], mode=mode, answer="is", reference=reference)
            for m in (c, b)
            for mode in ("zero", "mean")
        ],
        "head_importance": lambda c, b, d: [
            interp.head_importance(m, CLEAN, answer="is", progress=False) for m in (c, b)
        ],
        "patch": lambda c, b, d: [
            interp.patch(m, CLEAN, CORRUPT, answer="is", contrast="are", hook=hook, progress=False)
            for m in (c, b)
            for hook in ("resid_post", "attn_out")
        ],
        "generate": lambda c, b, d: [
            interp.generate(m, PROMPT, 8, order=order, lens=True, top_k=3)
            for m in (c, b, d)
            for order in (("left_to_right",) if m is c else ("confidence", "random"))
        ],
        "generate_suite": lambda c, b, d: [
            interp.generate_suite([c, b, d], prompts, 6, orders=("confidence",), progress=False)
        ],
        "score": lambda c, b, d: [
            interp.score(m, reference[:2], n_samples=8, progress=False) for m in (c, b, d)
        ],
        "minimal_pairs": lambda c, b, d: [
            interp.minimal_pairs([c, b, d], corpus.minimal_pairs(n_per_kind=1), n_samples=8, progress=False)
        ],
    }


def test_every_analysis_is_compared():
    """A new public analysis joins the comparison below (or NOT_COMPARED, with the reason)."""
    covered = set(_runs(None)) | set(NOT_COMPARED)
    missing = [name for name in interp.analysis.__all__ if name not in covered]
    assert not missing, f"add {missing} to tests/test_gpu.py"


@pytest.mark.parametrize("analysis", sorted(n for n in interp.analysis.__all__ if n not in NOT_COMPARED))
def test_the_device_matches_the_cpu_on_the_zoo_models(zoo, analysis):
    run = _runs(zoo)[analysis]
    on_device = run(*(zoo[n][0] for n in ZOO))
    on_cpu = run(*(zoo[n][1] for n in ZOO))
    assert len(on_device) == len(on_cpu) > 0
    assert_close(on_device, on_cpu, analysis)


def test_bfloat16_on_the_device_within_the_documented_tolerance(tmp_path):
    from subword_tokenizers import BY_NAME, save_model
    from test_dtypes import TOL

    from interp.models import hooks as _hooks

    tol = TOL["bfloat16"]
    for name in ("gpt2", "bert"):
        folder = save_model(BY_NAME[name], tmp_path / name)
        ref, low = interp.load(folder, device="cpu"), interp.load(folder, device=DEVICE, dtype="bfloat16")
        assert next(low.bridge.original_model.parameters()).dtype == torch.bfloat16
        text = "we saw a quiet owl near the river . anna lives in oslo ."
        if low.kind == "bidirectional":
            text = text.replace("owl", low.tokenizer.mask_token)
        patterns = [f"blocks.{i}.attn.hook_pattern" for i in range(low.n_layers)]
        names = _hooks.resid_names(low) + patterns
        (logits, cache), (ref_logits, ref_cache) = (
            low.run_with_cache(text, names),
            ref.run_with_cache(text, names),
        )
        logits = logits.float().cpu()
        assert (logits - ref_logits).abs().max() <= tol["logits"]
        assert (logits.log_softmax(-1) - ref_logits.log_softmax(-1)).abs().max() <= tol["logits"]
        for n in _hooks.resid_names(low):
            gap = (cache[n].float().cpu() - ref_cache[n]).abs().max()
            assert gap <= tol["resid"] * (1 + ref_cache[n].abs().max()), n
        for n in patterns:
            assert (cache[n].float().cpu() - ref_cache[n]).abs().max() <= tol["pattern"], n
        probe = text if low.kind == "bidirectional" else text.split(" owl")[0]
        r, r32 = interp.attribute(low, probe), interp.attribute(ref, probe)
        assert abs(r.delta) <= tol["ig"] and abs(r.objective - r32.objective) <= 2 * tol["logits"]
