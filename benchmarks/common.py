"""Shared benchmark helpers: a gpt2-small-shaped model, peak-RSS sampling, medians of alternating runs."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch

PAGE = os.sysconf("SC_PAGE_SIZE")


def in_fresh_process(module: str, *args: str) -> dict:
    """``python -m module *args`` in a fresh process (one thread; glibc returns freed memory at once, so its
    RSS tracks live memory), and the JSON object its last output line prints."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@contextmanager
def peak_rss(interval: float = 0.0005):
    """Sample this process's resident set size in a thread; yields a dict whose ``peak`` is set on exit."""
    out = {"start": rss_bytes(), "peak": rss_bytes()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            out["peak"] = max(out["peak"], rss_bytes())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        out["peak"] = max(out["peak"], rss_bytes())


def alternating_medians(fns: dict[str, Callable[[], object]], repeats: int = 11) -> dict[str, float]:
    """Median seconds of each function, run in turn (A, B, C, A, B, C, ...) so drift hits all alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def gpt2_small_folder(n_layer: int = 12) -> Path:
    """A randomly initialised GPT-2-small-shaped model (12 x 12 heads, d 768, vocab 50257) with the zoo's
    word-level tokenizer, saved to a temporary folder (no download)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.zoo import corpus
    from interp.zoo.tokenizer import hf_tokenizer, train_tokenizer

    folder = Path(tempfile.mkdtemp(prefix="interp-bench-")) / "gpt2-small-random"
    torch.manual_seed(0)
    config = GPT2Config(n_layer=n_layer, bos_token_id=5, eos_token_id=5, pad_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer = hf_tokenizer(train_tokenizer(corpus.generate(3000, seed=0)), "causal")
    tokenizer.model_max_length = config.n_positions
    tokenizer.save_pretrained(folder)
    return folder


def words(n: int, seed: int = 0) -> str:
    """``n`` words of zoo text (one token each for the word-level tokenizer)."""
    from interp.zoo import corpus

    out: list[str] = []
    i = 0
    while len(out) < n:
        out += corpus.generate(1, seed=seed + i)[0].split()
        i += 1
    return " ".join(out[:n])


def rss() -> int:
    """This process's resident set size in bytes."""
    return rss_bytes()


def reset_hwm() -> None:
    """Reset the kernel's record of this process's peak resident set size (Linux: /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def hwm() -> int:
    """The peak resident set size since the last :func:`reset_hwm`, in bytes (exact: no sampling)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return rss_bytes()
