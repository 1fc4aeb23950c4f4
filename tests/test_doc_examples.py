"""Every Python code block of README.md and docs/*.md runs, on the zoo models, offline.

A page's blocks run in order in one namespace, in a temporary working directory of the page's own (what a
reader typing them into one session would see). A block that needs what this machine cannot have (a model
hub, a remote service, GPUs, Chromium) is marked just above its fence with an HTML comment that gives the
reason, ``<!-- skip: needs the model hub -->``, and is reported as skipped with that reason. Each zoo model is
loaded once for the whole run (``interp.load`` is memoised for the duration of these tests only).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import interp

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
SKIP = re.compile(r"<!--\s*skip:\s*(?P<reason>.*?)\s*-->\s*$", re.S)


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str
    skip: str | None
    """The reason given in the ``<!-- skip: ... -->`` comment right above the fence, if any."""


def blocks_of(path: Path, root: Path = ROOT) -> list[Block]:
    """The ```python blocks of one page, in order, with their skip reasons."""
    text = path.read_text()
    found = []
    for match in FENCE.finditer(text):
        if match["lang"] != "python":
            continue
        before = text[: match.start()].rstrip()
        comment = SKIP.search(before[before.rfind("<!--") :]) if before.endswith("-->") else None
        found.append(
            Block(
                page=str(path.relative_to(root)),
                line=text.count("\n", 0, match.start()) + 1,
                code=match["body"],
                skip=comment["reason"] if comment else None,
            )
        )
    return found


BLOCKS = [block for page in PAGES for block in blocks_of(page)]


@dataclass
class Page:
    """One page's namespace and working directory, and how far its blocks have run."""

    cwd: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__doc_example__"})
    done: int = 0
    failed: str | None = None


@pytest.fixture(scope="module")
def memoised_load():
    """``interp.load`` that loads each (name, options) once for this module: the pages load the same zoo models."""
    real = interp.load
    cache: dict[Any, Any] = {}

    def load(*args, **kwargs):
        key = (tuple(str(a) for a in args), tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        if key not in cache:
            cache[key] = real(*args, **kwargs)
        return cache[key]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(interp, "load", load)
        yield


@pytest.fixture(scope="module")
def pages(memoised_load) -> dict[str, Page]:
    """Each page's state, made when its first block runs."""
    return {}


def run_through(page: Page, blocks: list[Block], upto: int) -> None:
    """Run the page's blocks up to index ``upto`` (inclusive) that have not run yet, skipped ones left out, so
    that a block selected alone (``-k``) still sees what the blocks above it defined."""
    while page.done <= upto:
        block = blocks[page.done]
        page.done += 1
        if block.skip is not None:
            continue
        if page.failed:
            pytest.fail(f"an earlier block of {block.page} failed ({page.failed})")
        old = Path.cwd()
        os.chdir(page.cwd)
        try:
            # Padded so that a traceback's line numbers are the page's own.
            exec(compile("\n" * block.line + block.code, block.page, "exec"), page.namespace)
        except BaseException:
            page.failed = f"the block at line {block.line}"
            raise
        finally:
            os.chdir(old)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.page}:{b.line}" for b in BLOCKS])
def test_block_runs(block: Block, pages: dict[str, Page], tmp_path_factory):
    if block.skip is not None:
        pytest.skip(f"{block.page}:{block.line}: {block.skip}")
    if block.page not in pages:
        pages[block.page] = Page(cwd=tmp_path_factory.mktemp(Path(block.page).stem))
    own = [b for b in BLOCKS if b.page == block.page]
    run_through(pages[block.page], own, own.index(block))


def test_every_page_is_read():
    """The extraction finds the blocks it should: the README's and the how-to's, each with a reason when
    skipped, and none whose skip comment is empty."""
    by_page = {str(p.relative_to(ROOT)): blocks_of(p) for p in PAGES}
    assert any(b.skip is None for b in by_page["README.md"])
    assert sum(b.skip is None for b in by_page["docs/howto.md"]) >= 5
    for block in BLOCKS:
        assert block.skip is None or len(block.skip) > 5, (
            f"{block.page}:{block.line}: give the reason to skip"
        )
    assert len(BLOCKS) == sum(p.read_text().count("```python") for p in PAGES)


def test_skip_comment_applies_to_the_next_block_only(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n<!-- skip: needs the model hub -->\n```python\nhub()\n```\n\nmore\n\n```python\nlocal()\n```\n"
        "\n```bash\nmake demo\n```\n"
    )
    found = blocks_of(page, tmp_path)
    assert [(b.line, b.code, b.skip) for b in found] == [
        (4, "hub()\n", "needs the model hub"),
        (10, "local()\n", None),
    ]
