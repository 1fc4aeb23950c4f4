"""`make docs`: the site builds offline in strict mode and holds every tutorial and every public function."""

import os
import re
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
    shutil.copy(ROOT / "mkdocs_hooks.py", work / "mkdocs_hooks.py")
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
    assert len(notebooks) >= 9
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


def test_tutorial_links_lead_to_the_rendered_tutorials(site):
    """index.md links the tutorial where it lives in the repository (../notebooks/); on the site that link leads
    to the rendered tutorial (mkdocs_hooks.py)."""
    assert "../notebooks/00_quickstart.ipynb" in (ROOT / "docs" / "index.md").read_text()
    index = (site / "index.html").read_text()
    assert 'href="tutorials/00_quickstart/"' in index
    assert "notebooks/" not in re.sub(r"<pre.*?</pre>|<code>.*?</code>", "", index, flags=re.S)


LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
"""A markdown link or image, ``[text](target)`` or ``![text](target)``."""


@pytest.mark.parametrize("page", ["README.md", *sorted(p.name for p in (ROOT / "docs").glob("*.md"))])
def test_relative_links_resolve_in_the_repository(page):
    """A reader on GitHub follows each relative link of the README and the docs pages to a file or folder that
    the repository holds (a link into docs/tutorials/, which only a docs build makes, would be dead there)."""
    path = ROOT / page if page == "README.md" else ROOT / "docs" / page
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    for match in LINK.finditer(text):
        target = match["target"].split("#")[0]
        if not target or re.match(r"[a-z]+:", target):
            continue
        resolved = (path.parent / target).resolve()
        assert ROOT / "docs" / "tutorials" not in (resolved, *resolved.parents), (
            f"{page}: {match[0]}: docs build only"
        )
        assert resolved.exists(), f"{page}: {match[0]} leads nowhere in the repository"


def test_hook_shapes_name_the_batch_axis_first_only():
    """A norm's hook_scale is (batch, pos, 1): a size-1 axis after the first is a size, not a second batch."""
    shapes = re.findall(r"\| \((.*?)\) \|$", (ROOT / "docs" / "hooks.md").read_text(), flags=re.M)
    assert len(shapes) > 40
    for shape in shapes:
        axes = shape.split(", ")
        assert axes[0] == "batch" and "batch" not in axes[1:], shape
    assert "| `ln_final.hook_scale` |  | (batch, pos, 1) |" in (ROOT / "docs" / "hooks.md").read_text()
