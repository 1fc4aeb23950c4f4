"""Integrated gradients at 50 steps: batched steps vs the naive loop of 50 forward+backward passes at batch 1
(captum with internal_batch_size=1), weight gradients off; gpt2-small shape, T=32. And ``attribute`` on a list
of 100 zoo probes (texts batched together) vs a loop of single calls, on each zoo model."""

from __future__ import annotations

import time

import torch

from benchmarks.common import gpt2_small_folder, peak_rss, words


def batched_rows(n_probes: int = 100, repeats: int = 3) -> list[dict]:
    """``attribute(model, texts, answer=answers)`` on ``n_probes`` held-out zoo probes against a loop of
    ``attribute(model, text, answer=answer)``, alternating, median of ``repeats``; the results agree within
    1e-5 (checked here too)."""
    import statistics

    import numpy as np

    import interp
    from interp.zoo import corpus

    probes = corpus.probes(n_per_kind=-(-n_probes // 4))[:n_probes]
    texts, answers = [p.text for p in probes], [p.answer for p in probes]
    rows = []
    for name in ("tiny-causal", "tiny-bidirectional"):
        model = interp.load(name)
        interp.attribute(model, texts[:4], answer=answers[:4], progress=False)  # warm-up
        times: dict[str, list[float]] = {"loop": [], "batched": []}
        for _ in range(repeats):
            start = time.perf_counter()
            loop = [interp.attribute(model, t, answer=a) for t, a in zip(texts, answers)]
            times["loop"].append(time.perf_counter() - start)
            start = time.perf_counter()
            batched = interp.attribute(model, texts, answer=answers, progress=False)
            times["batched"].append(time.perf_counter() - start)
        worst = max(float(np.abs(a.scores - b.scores).max()) for a, b in zip(loop, batched))
        ours, slow = statistics.median(times["batched"]), statistics.median(times["loop"])
        rows.append(
            {
                "benchmark": f"attribute on a list of {len(texts)} zoo probes ({name}, IG 50 steps) vs a loop of "
                "single calls",
                "measured": f"{ours:.1f} s vs {slow:.1f} s (median of {repeats}, alternating; largest score "
                f"difference {worst:.1e})",
                "ratio": ours / slow,
                "goal": "<= 1x",
                "met": ours / slow <= 1 and worst <= 1e-5,
            }
        )
    return rows


def run(T: int = 32, n_steps: int = 50, repeats: int = 3) -> list[dict]:
    from captum.attr import IntegratedGradients

    import interp
    from interp.analysis import target
    from interp.analysis.attribution.objective import Objective

    model = interp.load(gpt2_small_folder())
    text = words(T - 1)
    tokens = model.to_tokens(text)
    interp.attribute(model, tokens, n_steps=n_steps, tolerance=None)  # warm-up
    frame = model.frame(tokens)
    objective = Objective(model, target.make(model, frame, (int(model.forward(tokens)[0, -1].argmax()),)))

    def naive() -> None:
        ig = IntegratedGradients(objective)
        ig.attribute(objective.inputs, baselines=objective.baseline, n_steps=n_steps, internal_batch_size=1)

    ours_t, naive_t = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        with peak_rss() as mem:
            result = interp.attribute(model, tokens, n_steps=n_steps, tolerance=None)
        ours_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        naive()
        naive_t.append(time.perf_counter() - start)
    ours, slow = sorted(ours_t)[len(ours_t) // 2], sorted(naive_t)[len(naive_t) // 2]
    gap = result.objective - result.baseline_objective
    completeness = abs(result.scores.sum() - gap) / abs(gap)
    batch = result.settings["internal_batch_size"]
    return [
        {
            "benchmark": f"IG {n_steps} steps (gpt2-small shape, T={T}) vs naive batch-1 loop",
            "measured": f"{ours:.2f} s vs {slow:.2f} s (internal batch {batch}; peak +{(mem['peak'] - mem['start']) / 2**20:.0f} MiB; "
            f"completeness error {completeness:.2%}, delta {result.delta:.1e})",
            "ratio": ours / slow,
            "goal": "<= 0.5x",
            "met": ours / slow <= 0.5,
        }
    ] + batched_rows()


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(run())
