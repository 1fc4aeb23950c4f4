"""Peak memory of the logit lens and the tuned lens vs a plain forward and vs a naive full-vocabulary lens
(gpt2-small shape, d_vocab 50257, T=512), measured after a warm-up forward by sampling this process's RSS."""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import torch

from benchmarks.common import gpt2_small_folder, peak_rss, words


def naive_lens(model, tokens) -> None:
    """Every layer decoded at once: an (n_layers + 1, T, d_vocab) stack, then log-softmax and KL on it."""
    from interp.models.hooks import resid_names

    _, cache = model.run_with_cache(tokens, names=resid_names(model))
    with torch.no_grad():
        stack = torch.stack([model.decode_resid(cache[n][0]) for n in resid_names(model)])  # (L+1, T, V)
        logp = stack.log_softmax(-1)
        kl = (logp[-1].exp() * (logp[-1] - logp)).sum(-1)
        del stack, logp, kl


def run(T: int = 512) -> list[dict]:
    import interp

    model = interp.load(gpt2_small_folder())
    tokens = model.to_tokens(words(T - 1))
    with torch.no_grad():
        model.forward(tokens)  # warm-up: memory-mapped weights inflate the first pass
    # Translators for the tuned lens's row: two steps on eight tokens are enough to measure reading through
    # them, and small enough not to leave a training's memory in the process before anything is measured.
    folder = Path(tempfile.mkdtemp(prefix="interp-bench-tuned-"))
    interp.tuned_lens(
        model, [words(7, seed=1)], steps=2, batch_size=1, path=folder / "t.safetensors", progress=False
    )
    gc.collect()

    def measure(fn) -> tuple[int, int]:
        gc.collect()
        with peak_rss() as m:
            fn()
        return m["start"], m["peak"]

    def plain() -> None:
        with torch.no_grad():
            model.forward(tokens)

    rows = {}
    for name, fn in (
        ("plain", plain),
        ("lens", lambda: interp.logit_lens(model, tokens, top_k=5)),
        ("tuned", lambda: interp.logit_lens(model, tokens, top_k=5, lens="tuned")),
        ("naive", lambda: naive_lens(model, tokens)),
        ("plain2", plain),
    ):
        rows[name] = measure(fn)
    base = min(s for s, _ in rows.values())
    plain_peak = min(rows["plain"][1], rows["plain2"][1])
    mib = 2**20
    lens_ratio = rows["lens"][1] / plain_peak
    extra = (rows["lens"][1] - base) / max(1, plain_peak - base)
    tuned_ratio = rows["tuned"][1] / plain_peak
    tuned_extra = (rows["tuned"][1] - base) / max(1, plain_peak - base)
    return [
        {
            "benchmark": f"logit lens peak RSS (top-5, answer rank, KL; T={T}, d_vocab 50257) vs plain forward",
            "measured": f"{rows['lens'][1] / mib:.0f} MiB vs {plain_peak / mib:.0f} MiB "
            f"(above the loaded model: {(rows['lens'][1] - base) / mib:.0f} vs {(plain_peak - base) / mib:.0f} MiB, {extra:.2f}x)",
            "ratio": lens_ratio,
            "goal": "<= 1.2x",
            "met": lens_ratio <= 1.2,
        },
        {
            "benchmark": f"tuned lens peak RSS (translators of 12 layers; T={T}, d_vocab 50257) vs plain forward",
            "measured": f"{rows['tuned'][1] / mib:.0f} MiB vs {plain_peak / mib:.0f} MiB "
            f"(above the loaded model: {(rows['tuned'][1] - base) / mib:.0f} vs {(plain_peak - base) / mib:.0f} MiB, "
            f"{tuned_extra:.2f}x)",
            "ratio": tuned_ratio,
            "goal": "<= 1.2x",
            "met": tuned_ratio <= 1.2,
        },
        {
            "benchmark": "naive full-vocabulary lens peak RSS vs plain forward",
            "measured": f"{rows['naive'][1] / mib:.0f} MiB vs {plain_peak / mib:.0f} MiB",
            "ratio": rows["naive"][1] / plain_peak,
            "goal": "(peer)",
            "met": None,
        },
    ]
