"""``make bench``: every benchmark in one run, one table of ratios, recorded in docs/benchmarks.md."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

THREADS = 1
STORE = Path(__file__).with_name("results.json")
"""Every suite's latest rows: `python -m benchmarks SUITE` replaces that suite's and keeps the others'."""
NOTES = (
    "GPU check (`make gpu-check`: the tutorials on CUDA against the stored outputs, and every analysis on CUDA "
    "within 1e-4 of the CPU): not run yet; no CUDA machine has been available.\n\n"
)


def table(rows: list[dict]) -> str:
    lines = ["| benchmark | measured | ratio | goal | met |", "|---|---|---|---|---|"]
    for r in rows:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        ratio = f"{r['ratio']:.3g}x" if isinstance(r["ratio"], float) else str(r["ratio"])
        lines.append(f"| {r['benchmark']} | {r['measured']} | {ratio} | {r['goal']} | {met} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    torch.set_num_threads(THREADS)
    from benchmarks import (
        bench_batched,
        bench_capture,
        bench_circuits,
        bench_compare,
        bench_decompose,
        bench_ig,
        bench_lens,
        bench_memory,
        bench_notebooks,
        bench_payload,
        bench_peers,
        bench_scoring,
    )

    suites = {
        "capture": bench_capture,
        "lens": bench_lens,
        "decompose": bench_decompose,
        "ig": bench_ig,
        "compare": bench_compare,
        "payload": bench_payload,
        "notebooks": bench_notebooks,
        "memory": bench_memory,
        "peers": bench_peers,
        "scoring": bench_scoring,
        "batched": bench_batched,
        "circuits": bench_circuits,
    }
    # `--table`: only render docs/benchmarks.md from the stored rows (after a suite was added by hand, say)
    chosen = [] if argv == ["--table"] else argv or list(suites)
    unknown = [name for name in chosen if name not in suites]
    if unknown:
        print(f"unknown suite(s) {unknown}; the suites are {list(suites)}", file=sys.stderr)
        return 2
    # Rows of each suite are kept in benchmarks/results.json (tracked), so `python -m benchmarks lens` refreshes
    # one suite and the table still shows every other suite's latest figures, on any checkout.
    fresh = {}
    for name in chosen:
        print(f"running {name} ...", flush=True)
        fresh[name] = suites[name].run()
    saved = json.loads(STORE.read_text()) if STORE.exists() else {}  # read late: another run may have written
    saved.update(fresh)
    STORE.write_text(json.dumps(saved, indent=1) + "\n")
    rows = [row for name in suites for row in saved.get(name, [])] + browser_rows()
    text = table(rows)
    print(text)
    header = (
        f"# Benchmarks\n\nMeasured by `make bench` on {datetime.date.today()} ({platform.machine()}, "
        f"{os.cpu_count()} CPU cores shared with other work, torch {torch.__version__}, {THREADS} thread). Each "
        "ratio compares two things measured side by side in one run; the browser rows come from the last "
        "`make test-browser` run (artifacts/browser/timings.json).\n\n" + NOTES
    )
    Path("docs/benchmarks.md").write_text(header + text + "\n")
    return 0


def browser_rows() -> list[dict]:
    """Timings recorded by the browser suite (tests/browser), if it ran."""
    path = Path("artifacts/browser/timings.json")
    if not path.exists():
        return [
            {
                "benchmark": "browser: first paint / control update",
                "measured": "not run (make test-browser)",
                "ratio": "-",
                "goal": "< 1 s / < 100 ms",
                "met": None,
            }
        ]
    t = json.loads(path.read_text())
    return [
        {
            "benchmark": f"browser ({t.get('frontend', 'JupyterLab')}): time to first paint of a view",
            "measured": f"{t['first_paint_ms']:.0f} ms",
            "ratio": "-",
            "goal": "< 1 s",
            "met": t["first_paint_ms"] < 1000,
        },
        {
            "benchmark": "browser: figure update after a layer/head change",
            "measured": f"{t['update_ms']:.0f} ms",
            "ratio": "-",
            "goal": "< 100 ms",
            "met": t["update_ms"] < 100,
        },
    ]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
