"""`python -m interp demo` (what `make demo` runs): the terminal table and one offline HTML report."""

import os
import subprocess
import sys


def test_demo_prints_the_table_and_writes_an_offline_report(tmp_path):
    out = tmp_path / "demo.html"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(
        [sys.executable, "-m", "interp", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    for phenomenon in ("left_recall", "induction", "agreement", "right_cloze"):
        assert phenomenon in text
    assert "attn future" in text and f"wrote {out.resolve()}" in text
    page = out.read_text()
    assert page.count("<h2>") >= 8  # four comparisons, attention x2, lens, attribution, patching
    assert page.count("Plotly.newPlot") >= 8
    assert '<script src="http' not in page  # plotly.js is inlined, nothing is fetched


def test_hooks_summary_command():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.run(
        [sys.executable, "-m", "interp", "hooks"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    from transformers import AutoTokenizer

    from interp.zoo import ZOO_DIR

    d_vocab = len(AutoTokenizer.from_pretrained(ZOO_DIR / "tiny-causal"))
    assert "blocks.0.attn.hook_pattern" in proc.stdout and f"logits (1, 14, {d_vocab})" in proc.stdout
