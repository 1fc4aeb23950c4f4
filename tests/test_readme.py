"""What a newcomer reads first stays true: the README and the docs name what the code has.

The lists come from the code: the analyses from ``interp.analysis.__all__``, the rest of the public functions
from ``interp.__all__``, the models from the zoo's own registry, the tutorials from notebooks/.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import interp
from interp.zoo import ZOO_MODELS

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def code_names(path: Path) -> set[str]:
    """Every name written in backticks in the page's prose (fenced code blocks left out), also as
    ``interp.name``, ``name(...)`` or ``name.ipynb``: each span gives its text and its leading identifier."""
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    names = set()
    for span in re.findall(r"`([^`\n]+)`", text):
        span = span.strip().strip("\"'")
        names.add(span)
        bare = span.removeprefix("interp.")
        names.add(re.match(r"[\w.-]*", bare)[0])
    return names


def public_functions() -> list[str]:
    """interp's public functions and modules (the analyses, load, wrap, load_result, objectives): its lower-case
    public names, less the IPython extension hooks."""
    return [n for n in interp.__all__ if n[0].islower() and not n.startswith("_") and "ipython" not in n]


def test_the_lists_come_from_the_code():
    assert set(interp.analysis.__all__) <= set(public_functions())
    assert {"load", "wrap", "load_result", "objectives", "decompose", "generate"} <= set(public_functions())
    assert len(ZOO_MODELS) >= 3 and "tiny-diffusion" in ZOO_MODELS
    assert len(sorted((ROOT / "notebooks").glob("*.ipynb"))) >= 8


def test_readme_names_every_public_function():
    missing = [n for n in public_functions() if n not in code_names(ROOT / "README.md")]
    assert not missing, f"README.md does not name (in backticks) {missing}"


def test_concepts_names_every_analysis():
    missing = [n for n in interp.analysis.__all__ if n not in code_names(ROOT / "docs" / "concepts.md")]
    assert not missing, f"docs/concepts.md does not name (in backticks) {missing}"


@pytest.mark.parametrize("page", ["README.md", "docs/index.md", "docs/howto.md", "docs/concepts.md"])
def test_pages_name_every_zoo_model(page):
    names = code_names(ROOT / page) | set(re.findall(r'"([\w-]+)"', (ROOT / page).read_text()))
    missing = [n for n in ZOO_MODELS if n not in names]
    assert not missing, f"{page} does not name the zoo model(s) {missing}"


def test_readme_counts_the_zoo_models_right():
    """'ships two tiny models' went stale when the third came: every count of the zoo's models is its size."""
    text = (ROOT / "README.md").read_text()
    counts = re.findall(r"\b(two|three|four|five|six) tiny models\b", text)
    assert counts, "the README says how many tiny models it ships"
    assert set(counts) == {NUMBERS[len(ZOO_MODELS)]}, counts


def test_load_docstring_names_every_zoo_model():
    doc = " ".join(interp.load.__doc__.split())
    missing = [n for n in ZOO_MODELS if f'"{n}"' not in doc]
    assert not missing, f"interp.load's docstring does not name {missing}"


def test_readme_names_every_tutorial():
    names = code_names(ROOT / "README.md")
    missing = [nb.name for nb in sorted((ROOT / "notebooks").glob("*.ipynb")) if nb.name not in names]
    assert not missing, f"README.md does not list the tutorial(s) {missing} (by file name, in backticks)"


def test_code_names_reads_backticks_outside_code_blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "Use `interp.attention(m, text)`, `decompose` and `00_quickstart.ipynb`.\n\n"
        '```python\nx = "`generate`"\n```\n'
    )
    names = code_names(page)
    assert {"attention", "decompose", "00_quickstart.ipynb"} <= names
    assert "generate" not in names


def test_bare_pytest_collects_without_error():
    """`pytest` from the repository root collects every test, the browser tests' folder included, with no
    collection error (the browser tests' conftest once shadowed the unit tests' `conftest` module)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "tests/browser/test_notebooks.py::" in proc.stdout
    assert "tests/test_analysis.py::" in proc.stdout
    assert "error" not in proc.stdout.splitlines()[-1], proc.stdout.splitlines()[-1]
