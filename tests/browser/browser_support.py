"""Helpers of the browser tests: JupyterLab 4 and Notebook 7 servers, pages in Debian's headless Chromium.

Every server gets fresh temporary settings, workspaces, config, runtime and IPython dirs (old workspaces would
reopen other notebooks; the news toast would cover the page), a random free port on 127.0.0.1, a token, and a
temporary copy of the notebooks it serves. Jupyter extensions (jupyterlab_widgets, anywidget, plotly) are found
through the default data dirs, which are left alone. Servers are stopped in teardown, also after a failure.

Chromium: /usr/bin/chromium (``apt-get install -y chromium chromium-driver`` or ``make browser-deps``); the
``INTERP_CHROMIUM`` environment variable names another Chromium or Chrome binary. ``playwright install``
(Playwright's own browser download) is not used.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

for _key, _value in {
    "OMP_WAIT_POLICY": "PASSIVE",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = os.environ.get("INTERP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "install Debian's Chromium with `apt-get install -y chromium chromium-driver` (as root) or `make browser-deps`; "
    "`playwright install` is not needed (and does not work offline)"
)
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
FRONTENDS = {"lab": "JupyterLab", "notebook": "Notebook 7"}

SERVER_START_S = 90  # jupyter server up (polling /api/status)
PAGE_LOAD_MS = 90_000  # notebook page rendered and its kernel idle
RUN_ALL_S = 150  # every cell of a notebook executed and the kernel idle again

# User settings of every test server (written as <settings dir>/<extension>/<plugin>.jupyterlab-settings).
USER_SETTINGS = {
    # No news / update toast over the page, no request to jupyter.org.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # Every cell stays in the DOM, so that DOM checks see all outputs (the default windowing keeps
    # off-screen cells out of it).
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}

# Console errors and uncaught page errors that are known, harmless noise. Each entry: (frontend, or None for
# any; pattern; at most how many times per page; why it is harmless). Nothing else is allowed.
CONSOLE_ALLOW = [
    (
        "notebook",
        re.compile(r"^(pageerror: )?(TypeError: )?Cannot read properties of undefined \(reading 'schema'\)"),
        1,
        "Notebook 7.6 throws it once at start-up, uncaught, in notebook_core's keyboard-shortcuts settings "
        "handler (SettingRegistry.load -> pluginChanged -> plugins[id].schema of a plugin the registry lacks). "
        "It also happens with no user settings at all and before any notebook or widget code runs; the page, "
        "its shortcuts and the widgets work normally afterwards",
    ),
]

# --------------------------------------------------------------------------------------------------------
# Chromium and Playwright


def require_chromium() -> str:
    """Chromium's path; skips on a developer machine without it, fails under CI=true."""
    problem = None
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        problem = f"no Chromium at {CHROMIUM}: {INSTALL_HINT}"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright Python package is missing: `make setup` installs it (dev extra)"
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests need Chromium under CI: {problem}", pytrace=False)
        pytest.skip(problem)
    return CHROMIUM


# --------------------------------------------------------------------------------------------------------
# Models, notebooks


def tiny_models(folder: Path) -> dict[str, str]:
    """A tiny random GPT-2 and BERT with the zoo's word-level tokenizer, saved under ``folder``. The weights are
    initialised wide (std 0.3) so that heads attend in visibly different ways (at the default 0.02 every head
    is nearly uniform and a layer/head change would hardly change the figure)."""
    import torch
    import transformers as tf

    from interp.zoo import corpus
    from interp.zoo.tokenizer import hf_tokenizer, train_tokenizer

    tok = train_tokenizer(corpus.generate(300, seed=0))
    common = dict(vocab_size=tok.get_vocab_size(), pad_token_id=0, initializer_range=0.3)
    made = {}
    for kind, (config, cls) in {
        "causal": (
            tf.GPT2Config(
                n_positions=64, n_embd=32, n_layer=2, n_head=4, bos_token_id=5, eos_token_id=5, **common
            ),
            tf.GPT2LMHeadModel,
        ),
        "bidirectional": (
            tf.BertConfig(
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=64,
                max_position_embeddings=64,
                **common,
            ),
            tf.BertForMaskedLM,
        ),
    }.items():
        torch.manual_seed(0)
        target = folder / f"tiny-random-{kind}"
        cls(config).save_pretrained(target)
        hf_tokenizer(tok, kind).save_pretrained(target)
        made[kind] = str(target)
    return made


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells (cells starting with ``#md`` are markdown) with the python3 kernelspec."""

    def cell(src: str) -> dict[str, Any]:
        if src.startswith("#md\n"):
            return {"cell_type": "markdown", "metadata": {}, "source": src[4:]}
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": src}

    nb = {
        "cells": [cell(src) for src in cells],
        "metadata": {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


def code_cell_count(path: Path) -> int:
    return sum(c["cell_type"] == "code" for c in json.loads(path.read_text())["cells"])


# --------------------------------------------------------------------------------------------------------
# Jupyter servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(app: str, root: Path, tmp: Path, extra_env: dict[str, str], attempts: int = 3) -> Server:
    """A ready server. The free port is picked before the server binds it, so another process (a kernel's
    ZMQ sockets, a second test run) can take it in between: then the server exits at once and is started
    again on another port."""
    for attempt in range(attempts):
        server = Server(app, root, tmp, extra_env)
        try:
            server.wait_ready()
            return server
        except RuntimeError as err:
            server.stop()
            if "is not available" not in str(err) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class Server:
    """A running ``jupyter lab`` or ``jupyter notebook`` server on 127.0.0.1 with a token."""

    def __init__(self, app: str, root: Path, tmp: Path, extra_env: dict[str, str]) -> None:
        self.app, self.root, self.tmp = app, root, tmp
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.pages = 0
        dirs = {name: tmp / name for name in ("settings", "workspaces", "config", "runtime", "ipython")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        for plugin, values in USER_SETTINGS.items():
            target = dirs["settings"] / f"{plugin}.jupyterlab-settings"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values))
        env = dict(os.environ)
        env.update(extra_env)
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
            JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
            JUPYTER_CONFIG_DIR=str(dirs["config"]),  # no ~/.jupyter config; sys.prefix config still applies
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            IPYTHONDIR=str(dirs["ipython"]),
            PYTHONUNBUFFERED="1",
        )
        env.pop("JUPYTER_TOKEN", None)
        cls = "LabApp" if app == "lab" else "JupyterNotebookApp"
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            app,
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            "--no-browser",
            "--allow-root",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}",
            f"--{cls}.user_settings_dir={dirs['settings']}",
            f"--{cls}.workspaces_dir={dirs['workspaces']}",
        ]
        self.log_path = tmp / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def api(self, path: str, method: str = "GET", timeout: float = 10) -> Any:
        req = urllib.request.Request(
            self.base + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float = SERVER_START_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                self.api("/api/status", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.3)
        raise TimeoutError(f"jupyter {self.app} not up after {timeout} s:\n{self.log_tail()}")

    def url(self, notebook: str) -> str:
        """The notebook's page. In JupyterLab every page gets a workspace of its own, so that it shows only
        this notebook (the default workspace would reopen the notebooks of earlier pages)."""
        if self.app == "lab":
            self.pages += 1
            return f"{self.base}/lab/workspaces/test-{self.pages}/tree/{notebook}?token={self.token}"
        return f"{self.base}/notebooks/{notebook}?token={self.token}"

    def session(self, notebook: str) -> dict | None:
        for s in self.api("/api/sessions"):
            if s.get("path") == notebook:
                return s
        return None

    def kernel_state(self, notebook: str) -> str | None:
        s = self.session(notebook)
        return s["kernel"].get("execution_state") if s and s.get("kernel") else None

    def shutdown_session(self, notebook: str) -> None:
        """Stop the notebook's kernel (frees the CPU for the next test)."""
        try:
            s = self.session(notebook)
            if s is not None:
                self.api(f"/api/sessions/{s['id']}", method="DELETE", timeout=20)
        except (urllib.error.URLError, OSError):
            pass

    def stop(self) -> None:
        """Shut down kernels, then terminate the server's process group (kill it if it lingers)."""
        if self.proc.poll() is None:
            try:
                for k in self.api("/api/kernels", timeout=5):
                    self.api(f"/api/kernels/{k['id']}", method="DELETE", timeout=20)
            except (urllib.error.URLError, OSError, ValueError):
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self._log.close()


# --------------------------------------------------------------------------------------------------------
# Pages

# Installed in every page before any script runs: records (wall clock, ms) when each plotly graph div first
# has its SVG drawn and when each output area child first appears, on every animation frame.
PAINT_WATCH = """
(() => {
  const plots = document.getElementsByClassName('js-plotly-plot');
  const outputs = document.getElementsByClassName('jp-OutputArea-child');
  const tick = () => {
    const now = Date.now();
    for (const el of outputs) { if (el.__interpSeenAt === undefined) el.__interpSeenAt = now; }
    for (const el of plots) {
      if (el.__interpPaintedAt === undefined && el._fullLayout && el.querySelector('.main-svg')) {
        el.__interpPaintedAt = now;
      }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""


class NotebookPage:
    """A notebook open in one frontend, with everything the browser reported while it was open."""

    def __init__(self, server: Server, page: Any, notebook: str) -> None:
        self.server, self.page, self.notebook = server, page, notebook
        self.frontend = FRONTENDS[server.app]
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.external_requests: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.page_errors.append(f"{err.message}\n{err.stack or ''}"))
        page.on("dialog", self._dialog)
        page.on("request", self._request)
        page.add_init_script(PAINT_WATCH)
        page.set_default_timeout(30_000)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            self.console_errors.append(f"{msg.text} [{loc.get('url', '')}:{loc.get('lineNumber', '')}]")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        try:
            dialog.dismiss()
        except Exception:  # the page may already be gone
            pass

    def _request(self, request: Any) -> None:
        url = request.url
        if not url.startswith((self.server.base, "data:", "blob:", "about:")):
            self.external_requests.append(url)

    # ---- opening and running ----
    def open(self) -> None:
        t0 = time.monotonic()
        self.page.goto(self.server.url(self.notebook), wait_until="domcontentloaded", timeout=PAGE_LOAD_MS)
        self.page.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible", timeout=PAGE_LOAD_MS)
        deadline = t0 + PAGE_LOAD_MS / 1000
        while self.server.kernel_state(self.notebook) != "idle":
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.frontend}: kernel of {self.notebook} not idle after {PAGE_LOAD_MS / 1000:.0f} s "
                    f"(state {self.server.kernel_state(self.notebook)!r}):\n{self.server.log_tail()}"
                )
            time.sleep(0.25)
        dialogs = self.page.locator(".jp-Dialog")
        if dialogs.count():
            raise AssertionError(f"{self.frontend} opened a dialog: {dialogs.first.inner_text()!r}")

    def run_all(self) -> float:
        """Run > Run All (the menu, as a user would); returns the wall clock (ms) of the click."""
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Run\s*$")).first.click()
        item = self.page.locator('.lm-Menu [data-command="runmenu:run-all"]')
        item.wait_for(state="visible")
        t = time.time() * 1000
        item.click()
        return t

    def run_cell(self, index: int) -> None:
        """Select code cell ``index`` (a click on its prompt) and run it alone (Ctrl+Enter: run, stay)."""
        cell = self.page.locator(".jp-Notebook .jp-CodeCell").nth(index)
        cell.locator(".jp-InputArea-prompt").click()
        self.page.keyboard.press("Control+Enter")

    def prompts(self) -> list[str]:
        return self.page.eval_on_selector_all(
            ".jp-Notebook .jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.textContent.trim())"
        )

    def wait_executed(self, n_code: int, timeout: float = RUN_ALL_S) -> None:
        """Wait until every code cell shows an execution count and the kernel is idle (or running stopped)."""
        deadline = time.monotonic() + timeout
        settled = 0
        while time.monotonic() < deadline:
            prompts = self.prompts()
            numbered = sum(bool(re.fullmatch(r"\[\d+\]:", p)) for p in prompts)
            running = any("*" in p for p in prompts)
            idle = self.server.kernel_state(self.notebook) == "idle"
            if not running and idle and (numbered == n_code or numbered > 0):
                settled += 1
                if settled >= 3 or numbered == n_code:
                    break
            else:
                settled = 0
            time.sleep(0.3)
        else:
            raise TimeoutError(
                f"{self.frontend}: run-all not finished after {timeout} s; prompts {self.prompts()}"
            )
        prompts = self.prompts()
        numbered = sum(bool(re.fullmatch(r"\[\d+\]:", p)) for p in prompts)
        assert len(prompts) == n_code, (
            f"{self.frontend}: {len(prompts)} code cells in the DOM, expected {n_code}"
        )
        assert numbered == n_code, (
            f"{self.frontend}: not every cell ran: prompts {prompts}; error outputs: {self.error_outputs()}"
        )

    # ---- DOM checks ----
    def error_outputs(self) -> list[str]:
        """Text of stderr / error outputs (tracebacks, warnings) in the notebook."""
        return self.page.eval_on_selector_all(
            '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"],'
            ' .jp-Notebook .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]',
            "els => els.map(e => e.innerText.slice(0, 2000))",
        )

    def widget_problems(self) -> list[str]:
        """Outputs where ipywidgets reports an error or never finished loading a widget."""
        return self.page.eval_on_selector_all(
            ".jp-Notebook .jp-OutputArea-output",
            """els => els.map(e => e.innerText).filter(t =>
                 /Error displaying widget|Loading widget\\.\\.\\.|Failed to load model class|model not found/.test(t))
                 .map(t => t.slice(0, 300))""",
        )

    def plots_per_cell(self) -> list[int]:
        """For each code cell, how many plotly graphs with drawn SVG its outputs hold."""
        return self.page.eval_on_selector_all(
            ".jp-Notebook .jp-CodeCell",
            "cells => cells.map(c => [...c.querySelectorAll('.js-plotly-plot')]"
            ".filter(p => p._fullLayout && p.querySelector('.main-svg')).length)",
        )

    def wait_plots(self, expected: dict[int, int], timeout_ms: int = 60_000) -> None:
        """Wait until code cell i (0-based among code cells) shows at least expected[i] drawn plotly graphs."""
        cond = json.dumps({str(k): v for k, v in expected.items()})
        try:
            self.page.wait_for_function(
                f"""() => {{
                  const want = {cond};
                  const cells = document.querySelectorAll('.jp-Notebook .jp-CodeCell');
                  return Object.entries(want).every(([i, n]) => cells[+i] && [...cells[+i]
                    .querySelectorAll('.js-plotly-plot')].filter(p => p._fullLayout && p.querySelector('.main-svg'))
                    .length >= n);
                }}""",
                timeout=timeout_ms,
                polling=100,
            )
        except Exception as err:
            raise AssertionError(
                f"{self.frontend}: plotly figures not drawn: want {expected}, per cell {self.plots_per_cell()}; "
                f"widget problems {self.widget_problems()}; errors {self.error_outputs()}; "
                f"console {self.unexpected_console_errors()}"
            ) from err

    def paint_times(self) -> list[dict[str, Any]]:
        """Per code cell: wall clock (ms) of the first drawn plot and of the first output in it."""
        return self.page.eval_on_selector_all(
            ".jp-Notebook .jp-CodeCell",
            """cells => cells.map(c => {
                 const painted = [...c.querySelectorAll('.js-plotly-plot')].map(p => p.__interpPaintedAt)
                   .filter(t => t !== undefined);
                 const seen = [...c.querySelectorAll('.jp-OutputArea-child')].map(o => o.__interpSeenAt)
                   .filter(t => t !== undefined);
                 return {painted: painted.length ? Math.min(...painted) : null,
                         output: seen.length ? Math.min(...seen) : null};
               })""",
        )

    def unexpected_console_errors(self) -> list[str]:
        """Console errors and uncaught page errors, less the documented allow-list (each entry a limited
        number of times)."""
        left = [[app, pattern, count] for app, pattern, count, _ in CONSOLE_ALLOW]
        out = []
        for text in self.console_errors + [f"pageerror: {e}" for e in self.page_errors]:
            for entry in left:
                if (entry[0] in (None, self.server.app)) and entry[2] > 0 and entry[1].search(text):
                    entry[2] -= 1
                    break
            else:
                out.append(text)
        return out

    def write_log(self) -> Path:
        """Everything the browser reported for this page, in artifacts/browser/console-<app>-<notebook>.txt."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"console-{self.server.app}-{Path(self.notebook).stem}.txt"
        sections = {
            "console errors": self.console_errors,
            "page errors": self.page_errors,
            "dialogs": self.dialogs,
            "requests off localhost": self.external_requests,
            "not allow-listed": self.unexpected_console_errors(),
        }
        path.write_text(
            "".join(f"## {k} ({len(v)})\n" + "".join(f"{x}\n" for x in v) for k, v in sections.items())
        )
        return path

    def screenshot(self, name: str) -> Path:
        """A full-page PNG of the whole notebook (the viewport is stretched to its height first)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        height = self.page.evaluate(
            """() => {
                 const nb = document.querySelector('.jp-Notebook');
                 if (!nb) return 1000;
                 // The scrolling element: the windowed panel's outer box (Lab 4 / Notebook 7) or the notebook.
                 const boxes = [nb, ...nb.querySelectorAll('.jp-WindowedPanel-outer, .jp-WindowedPanel-inner')];
                 const content = Math.max(...boxes.map(b => b.scrollHeight));
                 return Math.ceil(content + nb.getBoundingClientRect().top + 80);
               }"""
        )
        size = self.page.viewport_size
        self.page.set_viewport_size({"width": size["width"], "height": int(min(max(height, 800), 12_000))})
        self.page.evaluate(
            """() => { for (const el of document.querySelectorAll('.jp-Notebook, .jp-WindowedPanel-outer'))
                         el.scrollTop = 0; }"""
        )
        self.page.wait_for_timeout(400)  # Lumino relayout and plotly resize
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.page.set_viewport_size(size)
        return path
