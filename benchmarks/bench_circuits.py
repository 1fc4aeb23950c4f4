"""Attribution patching against real patching of every head at every position (``hook="z"``,
``by="head_position"``): the time on a gpt2-small-shaped random model (12 x 12 heads, d 768, vocab 50257) at
T=32, one thread, one run each; and how well the estimate agrees with real patching on the trained zoo models.
Goal: attribution patching <= 0.05x real patching's time.
"""

from __future__ import annotations

import time

import torch

from benchmarks.common import gpt2_small_folder, words

CLEAN = "the key to the cabinet ___ on the table ."
CORRUPT = "the keys to the cabinet ___ on the table ."


def run(T: int = 32) -> list[dict]:
    import interp

    torch.set_num_threads(1)
    model = interp.load(gpt2_small_folder())
    text = words(T - 1)
    first, rest = text.split(" ", 1)
    other = next(w for w in ("table", "keys", "cabinet", "night") if w != first)
    clean, corrupt = text, f"{other} {rest}"  # one word changed, the same length
    kw = dict(hook="z", by="head_position", progress=False)
    interp.attribution_patch(model, clean, corrupt, **kw)  # warm-up (memory-mapped weights, first hooks)
    start = time.perf_counter()
    est = interp.attribution_patch(model, clean, corrupt, **kw)
    t_atp = time.perf_counter() - start
    start = time.perf_counter()
    real = interp.patch(model, clean, corrupt, **kw)
    t_real = time.perf_counter() - start
    assert est.restored.shape == real.restored.shape == (12, 12, T)
    ratio = t_atp / t_real
    rows = [
        {
            "benchmark": f"attribution patching vs real patching, every head and position (hook z, gpt2-small "
            f"shape, T={T}, {real.restored.size} patches, one run)",
            "measured": f"{t_atp:.2f} s vs {t_real:.1f} s",
            "ratio": ratio,
            "goal": "<= 0.05x",
            "met": ratio <= 0.05,
        }
    ]
    for name in ("tiny-causal", "tiny-bidirectional"):
        m = interp.load(name)
        parts = []
        for hook, by, method in (
            ("z", "head", "atp"),
            ("z", "head_position", "atp"),
            ("k", "head_position", "atp"),
        ):
            r = interp.attribution_patch(
                m, CLEAN, CORRUPT, hook=hook, by=by, method=method, answer="is", contrast="are", validate=True,
                progress=False,
            )  # fmt: skip
            parts.append(
                f"{hook} by {by.replace('_', ' and ')}: pearson {r.pearson:.3f}, spearman {r.spearman:.3f}"
            )
        rows.append(
            {
                "benchmark": f"attribution patching against real patching on {name} (key/keys agreement probe)",
                "measured": "; ".join(parts),
                "ratio": "-",
                "goal": "(agreement)",
                "met": None,
            }
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
