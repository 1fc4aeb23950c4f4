"""Writes never destroy: a full disk, a file-size limit or a Ctrl-C in the middle of any write leaves the
previous file intact and no temporary file behind (save_html, save_report, save_png, result.save, tuned-lens
translators: all go through interp.atomic.write_atomically)."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import interp
import interp.atomic
from interp.analysis.tuned import TunedLens
from interp.results import AttentionResult

PREVIOUS = b"the previous, good file\n" * 2000  # 48 kB
FAKE_PNG = b"\x89PNG\r\n\x1a\n" + bytes(200_000)


@pytest.fixture(scope="module")
def result():
    """A small causal attention result built from arrays (no model needed)."""
    L, H, T = 2, 2, 6
    rng = np.random.default_rng(0)
    p = rng.random((L, H, T, T), dtype=np.float32) * np.tril(np.ones((T, T), dtype=np.float32))
    p /= p.sum(-1, keepdims=True)
    stats = {k + s: rng.random((L, H)) for k in interp.results.HEAD_STATS for s in ("", "_content")}
    return AttentionResult(
        model_name="m",
        kind="causal",
        tokens=tuple(f"t{i}" for i in range(T)),
        patterns=p,
        head_stats=stats,
        rollout=np.eye(T),
        special=np.zeros(T, dtype=bool),
    )


def writers(result, monkeypatch):
    """name -> function(path) writing one file there with each writer under test."""
    import plotly.graph_objects as go

    import widgets

    monkeypatch.setattr(go.Figure, "to_image", lambda self, **kw: FAKE_PNG)  # kaleido's part, not ours
    lens = TunedLens("m", "0" * 64, torch.randn(2, 16, 16), torch.randn(2, 16), {"steps": 1})
    return {
        "save_html": lambda p: widgets.save_html(result, p),
        "save_report": lambda p: widgets.save_report([("one", result), ("two", result)], p),
        "save_png": lambda p: widgets.save_png(result, p),
        "result.save": lambda p: result.save(p),
        "tuned_lens": lambda p: lens.save(p),
    }


FILE = {
    "save_html": "out.html",
    "save_report": "out.html",
    "save_png": "out.png",
    "result.save": "out.npz",
    "tuned_lens": "out.safetensors",
}


class Failing:
    """A file whose writes fail with ``error`` once ``limit`` bytes are written (part of the failing write
    lands first, as on a disk that fills up mid-write)."""

    def __init__(self, file, limit: int, error: BaseException) -> None:
        self.file, self.limit, self.error, self.written = file, limit, error, 0

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        if self.written + len(data) > self.limit:
            self.file.write(data[: self.limit - self.written])
            self.written = self.limit
            raise self.error
        self.written += len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.file.__exit__(*exc)


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
    ids=["disk-full", "ctrl-c"],
)
def test_a_failed_write_leaves_the_previous_file(result, tmp_path, monkeypatch, error):
    real_open = open

    def failing_open(path, mode="r", *args, **kwargs):
        return Failing(real_open(path, mode, *args, **kwargs), 1000, error)

    for name, write in writers(result, monkeypatch).items():
        folder = tmp_path / name
        folder.mkdir()
        path = folder / FILE[name]
        path.write_bytes(PREVIOUS)
        with monkeypatch.context() as m:
            m.setattr(interp.atomic, "open", failing_open, raising=False)
            # TunedLens.save passes the OSError on (tuned_lens() turns it into an InputError naming the path).
            expected = (
                KeyboardInterrupt
                if isinstance(error, KeyboardInterrupt)
                else OSError
                if name == "tuned_lens"
                else interp.InterpError
            )
            with pytest.raises(expected) as info:
                write(path)
        if expected is not KeyboardInterrupt:
            assert "No space left on device" in str(info.value), name
            assert name == "tuned_lens" or str(path) in str(info.value), name
        assert path.read_bytes() == PREVIOUS, f"{name} damaged the previous file"
        assert [p.name for p in folder.iterdir()] == [path.name], f"{name} left a temporary file"
        # Without the failure the same write replaces the file, again leaving nothing else behind.
        write(path)
        assert path.read_bytes() != PREVIOUS and path.stat().st_size > 1000, name
        assert [p.name for p in folder.iterdir()] == [path.name], name


CHILD = """\
import resource, signal, sys
from pathlib import Path

import plotly.graph_objects as go

import interp
import widgets

result = interp.load_result(sys.argv[1])
go.Figure.to_image = lambda self, **kw: b"\\x89PNG" + bytes(200_000)
folder = Path(sys.argv[2])
files = {"save_html": "out.html", "save_report": "out.html", "save_png": "out.png", "result.save": "out.npz"}
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
for name, write in {
    "save_html": lambda p: widgets.save_html(result, p),
    "save_report": lambda p: widgets.save_report([("one", result), ("two", result)], p),
    "save_png": lambda p: widgets.save_png(result, p),
    "result.save": lambda p: result.save(p),
}.items():
    try:
        write(folder / name / files[name])
    except interp.InterpError as err:
        print(name, "refused:", err)
    else:
        print(name, "WROTE")
"""


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE and SIGXFSZ (POSIX)")
def test_a_file_size_limit_leaves_the_previous_file(result, tmp_path):
    saved = result.save(tmp_path / "result.npz")
    names = ("save_html", "save_report", "save_png", "result.save")
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / FILE[name]).write_bytes(
            PREVIOUS
        )  # above the limit: only new bytes count against it
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(saved), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == len(names), out.stdout
    for name, line in zip(names, lines):
        assert line.startswith(f"{name} refused: cannot write"), line
        assert "File too large" in line, line
        folder = tmp_path / name
        assert (folder / FILE[name]).read_bytes() == PREVIOUS, f"{name} damaged the previous file"
        assert [p.name for p in folder.iterdir()] == [FILE[name]], f"{name} left a temporary file"
