"""Wall time of the whole tutorial suite under strict nbval (the same command as `make test`)."""

from __future__ import annotations

import subprocess
import sys
import time


def run() -> list[dict]:
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "--nbval",
            "--nbval-sanitize-with",
            "notebooks/nbval.cfg",
            "notebooks",
        ],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    last = (proc.stdout.strip().splitlines() or ["?"])[-1]
    return [
        {
            "benchmark": "nbval, whole notebook suite (strict)",
            "measured": f"{seconds:.0f} s ({last})",
            "ratio": "-",
            "goal": "< 180 s",
            "met": seconds < 180 and proc.returncode == 0,
        }
    ]
