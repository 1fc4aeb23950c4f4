"""`make docs`: the site builds offline in strict mode and holds every tutorial and every public function."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import interp

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "docs", work / "docs", ignore=shutil.ignore_patterns("tutorials"))
    shutil.copy(ROOT / "mkdocs.yml", work / "mkdocs.yml")
    (work / "docs" / "tutorials").mkdir()
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, work / "docs" / "tutorials" / nb.name)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run(
        [sys.executable, "-m", "interp", "docs", str(work / "docs")], check=True, env=env, cwd=ROOT
    )
    mkdocs = Path(sys.executable).parent / "mkdocs"
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(work / "site")],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-3000:]
    return work / "site"


def test_every_tutorial_is_rendered(site):
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 8
    for stem in notebooks:
        page = site / "tutorials" / stem / "index.html"
        assert page.exists(), stem


def test_every_public_function_is_documented(site):
    api = (site / "api" / "index.html").read_text()
    for name in ["load", "wrap", *interp.analysis.__all__, "load_result"]:
        assert callable(getattr(interp, name))
        assert f'id="interp.{name}"' in api, name
    for name in ("figure", "view", "save_html", "save_png"):
        assert f'id="widgets.{name}"' in api, name


def test_generated_pages(site):
    hooks = (site / "hooks" / "index.html").read_text()
    assert "blocks.{i}.attn.hook_pattern" in hooks and "tiny-bidirectional" in hooks
    assert "Held-out accuracy" in (site / "zoo" / "index.html").read_text()
    assert (site / "benchmarks" / "index.html").exists()
