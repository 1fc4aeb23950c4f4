"""logit_lens, attention and decompose on a list of 100 zoo probes (padded batches) against a loop of single calls,
on each zoo model, alternating, in one run; the results agree within 1e-5 (checked here too)."""

from __future__ import annotations

import statistics
import time


def run(n_probes: int = 100, repeats: int = 3) -> list[dict]:
    import numpy as np

    import interp
    from interp.zoo import corpus

    probes = corpus.probes(n_per_kind=-(-n_probes // 4))[:n_probes]
    texts, answers = [p.text for p in probes], [p.answer for p in probes]
    analyses = {
        "logit_lens": (lambda m, t, a, **k: interp.logit_lens(m, t, answer=a, **k), "answer_prob"),
        "attention": (lambda m, t, a, **k: interp.attention(m, t, **k), "patterns"),
        "decompose": (lambda m, t, a, **k: interp.decompose(m, t, answer=a, **k), "contributions"),
    }
    rows = []
    for name in ("tiny-causal", "tiny-bidirectional"):
        model = interp.load(name)
        for analysis, (call, field) in analyses.items():
            call(model, texts[:4], answers[:4], progress=False)  # warm-up
            times: dict[str, list[float]] = {"loop": [], "batched": []}
            for _ in range(repeats):
                start = time.perf_counter()
                loop = [call(model, t, a) for t, a in zip(texts, answers)]
                times["loop"].append(time.perf_counter() - start)
                start = time.perf_counter()
                batched = call(model, texts, answers, progress=False)
                times["batched"].append(time.perf_counter() - start)
            worst = max(
                float(np.abs(getattr(a, field) - getattr(b, field)).max()) for a, b in zip(loop, batched)
            )
            ours, slow = statistics.median(times["batched"]), statistics.median(times["loop"])
            rows.append(
                {
                    "benchmark": f"{analysis} on a list of {len(texts)} zoo probes ({name}) vs a loop of single calls",
                    "measured": f"{ours:.2f} s vs {slow:.2f} s (median of {repeats}, alternating; largest "
                    f"{field} difference {worst:.1e})",
                    "ratio": ours / slow,
                    "goal": "<= 1x",
                    "met": ours / slow <= 1 and worst <= 1e-5,
                }
            )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
