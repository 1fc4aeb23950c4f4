"""interp.estimate_memory against the measured peak, per analysis, at gpt2-small shape (random weights), T=128
and T=512.

Each case runs in a fresh process: load the model, run the analysis once on a short text (imports, the engine's
lasting hooks, the tuned lens's translators), then sample the process's resident set size while the analysis
runs on T tokens. The measured peak is the largest RSS minus the RSS just before the call: what the analysis
adds above the loaded model. glibc is told to serve every block over 64 KiB with its own mapping
(``MALLOC_MMAP_THRESHOLD_``), so freed tensors leave the RSS at once and it tracks live memory.

Analyses that repeat one batch many times (patching: every layer, in chunks of positions; head importance:
every layer; occlusion: batches of occluded copies) are stopped once their first repeated batch is done: the
peak is that batch's, and the rest would take hours at T=512 on one CPU thread. Integrated gradients runs
as many path steps as one internal batch holds, which is where its peak lies.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

GOAL = 0.30
"""Every estimate within +-30% of the measured peak."""

CASES: dict[str, tuple[str, dict]] = {
    "attention": ("attention", {}),
    "logit_lens": ("logit_lens", {}),
    "logit_lens (tuned)": ("logit_lens", {"lens": "tuned"}),
    "attribute (integrated_gradients)": ("attribute", {"method": "integrated_gradients", "tolerance": None}),
    "attribute (saliency)": ("attribute", {"method": "saliency"}),
    "attribute (input_x_gradient)": ("attribute", {"method": "input_x_gradient"}),
    "attribute (occlusion)": ("attribute", {"method": "occlusion"}),
    "patch": ("patch", {"progress": False}),
    "ablate": ("ablate", {"heads": [(0, 0), (5, 3)]}),
    "head_importance": ("head_importance", {"progress": False}),
    "decompose": ("decompose", {}),
    "induction_scores": ("induction_scores", {"n_seqs": 1}),
    "generate": ("generate", {"n_tokens": 4}),
    "generate (lens)": ("generate", {"n_tokens": 4, "lens": True, "top_k": 5}),
    "tuned_lens": ("tuned_lens", {"steps": 1, "batch_size": 1, "progress": False}),
}
GENERATED = 4
"""Tokens the generate cases write after a prompt of T - 4 tokens (the finished row has T)."""
STOP_AFTER = {"patch": 3, "head_importance": 2, "attribute (occlusion)": 4}
"""Forward passes (counted at the last block) after which a repeating analysis is stopped: patching's clean and
corrupt runs then its first chunk; head importance's unablated read then its first layer; occlusion's three
single-row passes (the objective, captum's reference and unperturbed runs) then its first batch of copies."""


_TUNED_PATH: Path | None = None
"""Where the tuned_lens case writes its translators (next to the benchmark's model, not the user's cache)."""


class Stop(Exception):
    """Raised by the benchmark's own hook to end a repeating analysis after its first batch."""


def _call(interp, model, case: str, text: str, other: str, n_steps: int | None):
    name, kwargs = CASES[case]
    kwargs = dict(kwargs)
    if name == "attribute" and kwargs["method"] == "integrated_gradients":
        kwargs["n_steps"] = n_steps
    fn = getattr(interp, name)
    if name == "induction_scores":  # two copies of T // 2 tokens
        return fn(model, len(text.split()) // 2, **kwargs)
    if name == "tuned_lens":
        return fn(model, [text], path=_TUNED_PATH, **kwargs)
    if name == "patch":
        return fn(model, text, other, **kwargs)
    if name == "ablate":
        return fn(model, text, kwargs.pop("heads"), **kwargs)
    return fn(model, text, **kwargs)


def _estimate(interp, model, case: str, text: str, n_steps: int | None) -> int | None:
    name, kwargs = CASES[case]
    kwargs = {k: v for k, v in kwargs.items() if k not in ("progress", "heads")}
    if name == "attribute" and kwargs["method"] == "integrated_gradients":
        kwargs["n_steps"] = n_steps
    given = {"induction_scores": len(text.split()) // 2, "tuned_lens": [text]}.get(name, text)
    try:
        return int(interp.estimate_memory(model, name, given, **kwargs))
    except Exception as err:  # noqa: BLE001  (an analysis without an estimate yet: reported, not fatal)
        print(f"no estimate for {case}: {type(err).__name__}: {err}", file=sys.stderr)
        return None


def worker(folder: str, case: str, T: int) -> dict:
    """One case in this (fresh) process: the estimate and the measured peak above the loaded model."""
    import gc

    import torch

    torch.set_num_threads(1)
    import interp
    from benchmarks.common import peak_rss, words
    from interp.analysis.attribution.objective import internal_batch_size
    from interp.models import hooks as _hooks

    model = interp.load(folder)
    global _TUNED_PATH
    _TUNED_PATH = Path(folder).parent / "bench-tuned.safetensors"
    text, other = words(T - 1), words(T - 1, seed=7)
    if case.startswith("generate"):
        text = words(T - 1 - GENERATED)
    n_steps = None
    if case.startswith("attribute (integrated"):
        n_steps = max(2, internal_batch_size(model, T + 1, 50))  # one internal batch: the peak of any n_steps
    if case == "logit_lens (tuned)":
        interp.tuned_lens(
            model,
            [words(7, seed=1)],
            steps=2,
            batch_size=1,
            progress=False,
            path=Path(folder).parent / "t.safetensors",
        )
    short, short_other = words(7), words(7, seed=7)
    _call(interp, model, case, short, short_other, 2 if n_steps else None)  # warm-up
    estimate = _estimate(interp, model, case, text, n_steps)
    calls = {"n": 0}
    limit = STOP_AFTER.get(case)

    def count(tensor, hook):
        calls["n"] += 1
        if limit is not None and calls["n"] > limit:
            raise Stop

    gc.collect()
    start = time.perf_counter()
    with peak_rss(interval=0.0002) as mem:
        try:
            with model.hooks({_hooks.final_resid_name(model): count}):
                _call(interp, model, case, text, other, n_steps)
        except interp.InterpError as err:
            if not isinstance(err.__cause__, Stop) and "Stop" not in repr(err):
                raise
    return {
        "case": case,
        "T": T,
        "estimate": estimate,
        "measured": mem["peak"] - mem["start"],
        "seconds": time.perf_counter() - start,
        "n_steps": n_steps,
        "stopped": limit is not None,
    }


def measure(folder: str, case: str, T: int) -> dict:
    from benchmarks.common import in_fresh_process

    return in_fresh_process("benchmarks.bench_memory", "--worker", folder, case, str(T))


def run(lengths: tuple[int, ...] = (128, 512), cases: list[str] | None = None) -> list[dict]:
    from benchmarks.common import gpt2_small_folder

    folder = str(gpt2_small_folder())
    results = []
    for T in lengths:
        for case in cases or CASES:
            results.append(measure(folder, case, T))
            print(json.dumps(results[-1]), flush=True)  # progress, and the figures should a later case fail
    rows, worst = [], 0.0
    mib = 2**20
    for r in results:
        est = r["estimate"]
        ratio = est / r["measured"] if est is not None and r["measured"] > 0 else float("nan")
        worst = max(worst, abs(ratio - 1)) if est is not None else float("inf")
        steps = f", {r['n_steps']} steps" if r["n_steps"] else ""
        rows.append(
            {
                "benchmark": f"estimate_memory vs measured peak: {r['case']} (T={r['T']}{steps})",
                "measured": f"estimate {est / mib if est is not None else float('nan'):.0f} MiB vs peak "
                f"{r['measured'] / mib:.0f} MiB",
                "ratio": ratio,
                "goal": "0.7x - 1.3x",
                "met": est is not None and abs(ratio - 1) <= GOAL,
            }
        )
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        lengths = tuple(int(a) for a in sys.argv[1:] if a.isdigit()) or (128, 512)
        chosen = [a for a in sys.argv[1:] if not a.isdigit()] or None
        for row in run(lengths, chosen):
            print(row["benchmark"], "|", row["measured"], "|", f"{row['ratio']:.2f}")
