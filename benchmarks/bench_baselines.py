"""Attribution baselines on the zoo's held-out constructions: completeness and left/right masses of integrated
gradients under each baseline, per model (the table in docs/concepts.md, "Attribution baselines", and the default
it decides). ``python -m benchmarks.bench_baselines [n_per_kind]`` prints the markdown table.

The probes are grammar v3's held-out constructions (``interp.zoo.corpus_v3.probes(seed=1234)``, ``n_per_kind``
of each phenomenon), all of them for both models: the table is about completeness and where the mass lies, not
about whether the model answers. Per model and baseline: the share of probes whose completeness error is within
the 1% tolerance, the mean error, the mean path steps used (the steps double while the error exceeds 1%), and the
mean attribution mass right of the slot on the probes whose cue stands right of it (``not sees_left``: most
right-context cloze probes and the inverted agreement ones, "here ___ two keys .") and on those whose cue stands
left (``sees_left``): a baseline whose masses follow the cue's side tells the two apart better.
"""

from __future__ import annotations

import statistics
import sys

import torch

BASELINES = {"causal": ("pad", "zero", "unk"), "bidirectional": ("pad", "mask", "zero", "unk")}


def measure(n_per_kind: int = 10) -> list[dict]:
    import interp
    from interp.zoo import corpus_v3

    rows = []
    probes = corpus_v3.probes(seed=1234, n_per_kind=n_per_kind)
    for name in ("tiny-causal", "tiny-bidirectional"):
        model = interp.load(name)
        texts, answers = [p.text for p in probes], [p.answer for p in probes]
        right = [not p.sees_left for p in probes]
        for baseline in BASELINES[model.kind]:
            results = interp.attribute(model, texts, answer=answers, baseline=baseline, progress=False)
            errors = [r.completeness_error for r in results]
            rows.append(
                {
                    "model": name,
                    "baseline": baseline,
                    "probes": len(results),
                    "within_1pct": sum(e <= 0.01 for e in errors) / len(errors),
                    "mean_error": statistics.fmean(errors),
                    "mean_steps": statistics.fmean(r.settings["steps_used"] for r in results),
                    "right_mass_right_cue": statistics.fmean(
                        r.attr_right_mass for r, q in zip(results, right) if q
                    ),
                    "right_mass_left_cue": statistics.fmean(
                        r.attr_right_mass for r, q in zip(results, right) if not q
                    ),
                }
            )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | baseline | probes | within 1% | mean error | mean steps | right mass, cue right | "
        "right mass, cue left |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | `{r['baseline']}` | {r['probes']} | {r['within_1pct']:.0%} | "
            f"{r['mean_error']:.2%} | {r['mean_steps']:.0f} | {r['right_mass_right_cue']:.2f} | "
            f"{r['right_mass_left_cue']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    torch.set_num_threads(1)
    print(markdown(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 10)))
