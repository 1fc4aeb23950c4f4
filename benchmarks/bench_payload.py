"""Bytes the attention view sends to the browser for a gpt2-small-shaped result (12 x 12 heads, T=128) vs the
same patterns as JSON float text; and page weights: one view in a notebook, one result's save_html, a
five-result save_report, and every tutorial executed with its widget state stored (copies in a temporary
folder, one at a time), each against one copy of plotly.js."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_LIMIT = 6_000_000
"""The most bytes a tutorial executed with its widget state stored may weigh (one copy of plotly.js, ~5 MB)."""


def synthetic_attention(L: int = 12, H: int = 12, T: int = 128, seed: int = 0):
    """A causal AttentionResult of gpt2-small shape with random normalised patterns (no model needed)."""
    import torch

    from interp.analysis.patterns import head_stats, rollout
    from interp.results import AttentionResult

    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(L, H, T, T, generator=g)
    scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    patterns = scores.softmax(-1)  # (L, H, T, T)
    special = torch.zeros(T, dtype=torch.bool)
    special[0] = True
    stats = head_stats(patterns)
    stats.update({f"{k}_content": v for k, v in head_stats(patterns, ~special).items()})
    return AttentionResult(
        model_name="gpt2-small-shape",
        kind="causal",
        tokens=[f"t{i}" for i in range(T)],
        patterns=patterns.numpy().astype(np.float32),
        head_stats=stats,
        rollout=rollout(patterns).numpy(),
        special=special.numpy(),
    )


def run() -> list[dict]:
    return payload_rows() + page_weight_rows()


def payload_rows() -> list[dict]:
    from widgets.payload import attention_payload_bytes

    p = attention_payload_bytes(synthetic_attention())
    mib = 2**20
    return [
        {
            "benchmark": "attention view payload (12 x 12 heads, T=128): data sent on display vs JSON floats",
            "measured": f"{p.initial_bytes / mib:.2f} MiB vs {p.full_json_bytes / mib:.1f} MiB (all tabs opened: "
            f"{p.all_tabs_bytes / mib:.2f} MiB; one layer/head change: {p.update_bytes / 1024:.0f} KiB; plotly.js "
            f"code not counted: see the page weight rows)",
            "ratio": p.initial_bytes / p.full_json_bytes,
            "goal": "<= 0.25x",
            "met": p.initial_bytes / p.full_json_bytes <= 0.25,
        }
    ]


def page_weight_rows() -> list[dict]:
    import plotly.offline

    import interp
    import widgets
    from widgets.attention import AttentionView
    from widgets.figurewidget import plotly_bundle
    from widgets.payload import widget_bytes

    mb = 1e6
    bundle = len(plotly_bundle().encode())
    view = AttentionView(synthetic_attention())
    for index in range(1, len(view.tabs.builders)):
        view.tabs.build(index)
    data, code = widget_bytes(view)
    c, b = interp.load("tiny-causal"), interp.load("tiny-bidirectional")
    probe = "the keys to the cabinet ___ on the table ."
    five = [
        ("attention", interp.attention(c, probe.replace("___", "are"))),
        ("logit lens", interp.logit_lens(b, probe, answer="are")),
        ("attribution", interp.attribute(c, probe, answer="are", n_steps=8)),
        ("comparison", interp.compare(c, b, probe, answer="are", n_steps=8)),
        ("induction", interp.induction_scores(c, seq_len=8)),
    ]
    plotly_js = len(plotly.offline.get_plotlyjs().encode())
    with tempfile.TemporaryDirectory() as tmp:
        one = widgets.save_html(five[0][1], Path(tmp) / "one.html").stat().st_size
        report = widgets.save_report(five, Path(tmp) / "report.html").stat().st_size
        notebooks = executed_notebook_sizes(Path(tmp))
    heaviest = max(size for size, _ in notebooks.values())
    failed = sum(n for _, n in notebooks.values())
    return [
        {
            "benchmark": "page weight: one attention view in a notebook (12 x 12 heads, T=128, all tabs opened): "
            "module code vs one plotly.js bundle",
            "measured": f"{(code + data) / mb:.2f} MB (code {code / mb:.2f} MB for {len(view.tabs.builders)} tabs "
            f"of figures, data {data / mb:.2f} MB; plotly.js bundle {bundle / mb:.2f} MB)",
            "ratio": code / bundle,
            "goal": "<= 1.01x (plotly.js once)",
            "met": code <= 1.01 * bundle,
        },
        {
            "benchmark": "page weight: save_report of five results (attention, lens, attribution, comparison, "
            "induction) vs one plotly.js",
            "measured": f"{report / mb:.2f} MB (one result's save_html: {one / mb:.2f} MB; plotly.js "
            f"{plotly_js / mb:.2f} MB)",
            "ratio": report / plotly_js,
            "goal": "< 2x (plotly.js once)",
            "met": report < 2 * plotly_js,
        },
        {
            "benchmark": "page weight: each tutorial executed with its widget state stored (nbconvert "
            "store_widget_state)",
            "measured": ", ".join(
                f"{name[:2]} {size / mb:.2f} MB" + (f" ({n} cells failed)" if n else "")
                for name, (size, n) in notebooks.items()
            ),
            "ratio": heaviest / NOTEBOOK_LIMIT,
            "goal": "<= 6 MB each",
            "met": heaviest <= NOTEBOOK_LIMIT and not failed,
        },
    ]


def executed_notebook_sizes(folder: Path) -> dict[str, tuple[int, int]]:
    """Bytes of each tutorial (a copy in ``folder``) executed with its widget state stored, one at a time, and
    how many of its cells failed (a failed cell may leave views out, so the row is then not met)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    sizes = {}
    for source in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        copy = folder / source.name
        copy.write_bytes(source.read_bytes())
        out = folder / f"{source.stem}.executed.ipynb"
        proc = subprocess.run(
            [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
             "--ExecutePreprocessor.store_widget_state=True", "--ExecutePreprocessor.timeout=600", "--allow-errors",
             "--output", str(out), str(copy)],
            cwd=folder, env=env, capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"executing {source.name} failed:\n{proc.stderr[-3000:]}")
        cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
        failed = sum(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
        sizes[source.name] = (out.stat().st_size, failed)
    return sizes
