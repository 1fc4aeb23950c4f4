"""Fixtures of the browser suite: one headless Chromium, a JupyterLab and a Notebook 7 server (each test that
takes ``jupyter`` runs once per frontend), models for the kernels, pages, timings. See browser_support.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from .browser_support import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    FRONTENDS,
    NOTEBOOKS,
    NotebookPage,
    require_chromium,
    start_server,
    tiny_models,
)

HERE = Path(__file__).resolve().parent


def pytest_itemcollected(item):
    """Every test here carries the ``browser`` mark: a plain ``pytest`` deselects them (pyproject's addopts),
    ``make test-browser`` (``pytest -m browser tests/browser``) runs them."""
    if HERE in item.path.resolve().parents:
        item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    """One headless Chromium (persistent context with a fresh profile) for the whole session."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def model_env(tmp_path_factory) -> dict[str, str]:
    """INTERP_CAUSAL / INTERP_BIDIRECTIONAL for the kernels: the zoo models when their weights are present,
    else tiny random GPT-2 and BERT folders (the notebooks read these variables)."""
    require_chromium()  # nothing to build when the browser is missing
    from interp.zoo import ZOO_DIR, ZOO_MODELS

    if all((ZOO_DIR / name / "model.safetensors").exists() for name in ZOO_MODELS):
        return {"INTERP_CAUSAL": "tiny-causal", "INTERP_BIDIRECTIONAL": "tiny-bidirectional"}
    made = tiny_models(tmp_path_factory.mktemp("models"))
    return {"INTERP_CAUSAL": made["causal"], "INTERP_BIDIRECTIONAL": made["bidirectional"]}


@pytest.fixture(scope="session", params=sorted(FRONTENDS), ids=lambda app: app)
def jupyter(request, tmp_path_factory, model_env):
    """A fresh JupyterLab (``lab``) or Notebook 7 (``notebook``) server serving a temporary folder: a copy of
    notebooks/ plus the notebooks that tests write there."""
    app = request.param
    require_chromium()  # no server start when the browser is missing
    tmp = tmp_path_factory.mktemp(f"jupyter-{app}")
    root = tmp / "served"
    root.mkdir()
    if NOTEBOOKS.is_dir():
        for nb in NOTEBOOKS.glob("*.ipynb"):
            shutil.copy(nb, root / nb.name)
    server = start_server(app, root, tmp / "state", model_env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def open_notebook(jupyter, browser_context):
    """Factory: notebook path (relative to the served folder) -> NotebookPage, open with an idle kernel.
    Closes the pages and stops their kernels afterwards."""
    opened: list[NotebookPage] = []

    def open_(notebook: str) -> NotebookPage:
        nb = NotebookPage(jupyter, browser_context.new_page(), notebook)
        opened.append(nb)
        nb.open()
        return nb

    yield open_
    for nb in opened:
        try:
            nb.write_log()
            nb.page.close()
        finally:
            jupyter.shutdown_session(nb.notebook)


@pytest.fixture(scope="session")
def timings():
    """Collects per-frontend timings; written to artifacts/browser/timings.json at the end of the session.

    Top level: the JupyterLab numbers (or Notebook 7's if Lab did not run) as ``frontend``, ``first_paint_ms``,
    ``update_ms`` (read by ``make bench``); ``frontends`` holds every frontend's numbers."""
    collected: dict[str, dict[str, Any]] = {}
    yield collected
    if not collected:
        return
    main = collected.get("JupyterLab") or next(iter(collected.values()))
    data = dict(main)
    data["frontends"] = list(collected.values())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.json").write_text(json.dumps(data, indent=1) + "\n")
