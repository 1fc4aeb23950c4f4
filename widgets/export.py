"""Static export: one self-contained offline HTML file per result; PNG, SVG and PDF through kaleido.

Every file is written through :func:`interp.atomic.write_atomically`: a full disk or a Ctrl-C mid-write leaves
the previous file as it was.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from widgets.common import esc, summary_html

STYLE = """
:root { color-scheme: light dark; }
body { font-family: Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #333; background: #fff; }
@media (prefers-color-scheme: dark) { body { color: #ddd; background: #111; } }
pre.interp-summary { background: rgba(128,128,128,0.12); padding: 0.8em; border-radius: 4px; overflow-x: auto; }
table.interp-table td, table.interp-table th { padding: 0.25em 0.8em; border-bottom: 1px solid rgba(128,128,128,0.3); }
table.interp-table td:first-child, table.interp-table th:first-child { text-align: left; }
.interp-figure { margin: 1.5em 0; }
"""


def sections(result: Any, **opts: Any) -> list:
    """The static parts of ``result`` (plotly Figures and escaped HTML strings), from its registered builder."""
    from widgets import _check_options
    from widgets.registry import lookup

    builder = lookup(result)
    if builder is None:
        if opts:
            _check_options(lambda result: None, opts)  # no figure: no option applies
        return [summary_html(result)]
    if builder.sections is not None:
        _check_options(builder.sections, opts)
        return builder.sections(result, **opts)
    _check_options(builder.figure, opts)
    return [summary_html(result), builder.figure(result, **opts)]


def render_html(parts: list, title: str) -> str:
    """A full HTML page: plotly.js inlined once (with the first figure), every other part as given."""
    import plotly.graph_objects as go
    import plotly.io as pio

    body, first = [], True
    config = {"displaylogo": False, "responsive": True}
    for part in parts:
        if isinstance(part, go.Figure):
            div = pio.to_html(
                part, full_html=False, include_plotlyjs=first, include_mathjax=False, config=config
            )
            body.append(f'<div class="interp-figure">{div}</div>')
            first = False
        else:
            body.append(str(part))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def save_html(result: Any, path: str | Path, **opts: Any) -> Path:
    """Write every view of ``result`` as static figures into one self-contained offline HTML file.

    plotly.js is inlined once (no CDN, no network when opened); tokens are HTML-escaped everywhere.

    Args:
        result: any interp result.
        path: the file to write (``.html`` is added when it has no suffix).
        **opts: passed to the result's sections (e.g. ``layer=``, ``head=`` of an attention head view).

    Returns:
        The path written.
    """
    _check_result(result, "result")
    path = _file(path, ".html")
    title = f"{type(result).__name__} · {getattr(result, 'model_name', '')}"
    return _write(path, render_html(sections(result, **opts), title).encode("utf-8"))


def _check_result(result: Any, what: str) -> None:
    """InputError unless ``result`` is an interp result (what the views are built from)."""
    from interp.errors import InputError, echo
    from interp.results.base import Result

    if not isinstance(result, Result):
        raise InputError(
            f"{what} must be an interp result (e.g. interp.attention(...)), got {echo(result, 80)}"
        )


def _file(path: Any, suffix: str | None) -> Path:
    """``path`` as a file path (``suffix`` added when it has none); InputError for anything else."""
    from interp.errors import InputError, echo

    if not isinstance(path, (str, os.PathLike)) or not Path(path).name or Path(path).name in (".", ".."):
        raise InputError(f"path must be a file path such as 'out{suffix or '.html'}', got {echo(path, 80)}")
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"{path} is a folder: pass a file path, such as {path / ('out' + (suffix or '.html'))}"
        )
    return path.with_suffix(suffix) if suffix and not path.suffix else path


def _write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (the folder is made if needed); InputError naming the path."""
    from interp.atomic import write_atomically
    from interp.errors import InputError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomically(path, lambda f: f.write(data))
    except OSError as err:
        raise InputError(
            f"cannot write {path}: {err.strerror or err} (any previous file there is unchanged)"
        ) from None


def save_png(result_or_figure: Any, path: str | Path, *, scale: float = 2.0, **opts: Any) -> Path:
    """Write a PNG of a result's figure (``figure(result, **opts)``) or of a plotly Figure.

    Needs kaleido and a Chrome/Chromium on the machine.

    Args:
        result_or_figure: an interp result or a plotly Figure.
        path: the file to write (``.png`` is added when it has no suffix).
        scale: pixel density.
        **opts: figure options (e.g. ``kind=``, ``layer=``, ``head=``).

    Raises:
        InterpError: when kaleido or a browser for it is missing.
    """
    return _save_image("png", result_or_figure, path, scale=scale, **opts)


def save_svg(result_or_figure: Any, path: str | Path, *, scale: float = 2.0, **opts: Any) -> Path:
    """Write an SVG (vector) of a result's figure (``figure(result, **opts)``) or of a plotly Figure, for
    papers: text stays text and lines stay sharp at any zoom.

    Needs kaleido and a Chrome/Chromium on the machine (``make browser-deps``).

    Args:
        result_or_figure: an interp result or a plotly Figure.
        path: the file to write (``.svg`` is added when it has no suffix).
        scale: size factor (kept for the signature of :func:`save_png`; a vector file scales freely).
        **opts: figure options (e.g. ``kind=``, ``layer=``, ``head=``).

    Raises:
        InterpError: when kaleido or a browser for it is missing.
    """
    return _save_image("svg", result_or_figure, path, scale=scale, **opts)


def save_pdf(result_or_figure: Any, path: str | Path, *, scale: float = 2.0, **opts: Any) -> Path:
    """Write a one-page vector PDF of a result's figure (``figure(result, **opts)``) or of a plotly Figure.

    Needs kaleido and a Chrome/Chromium on the machine (``make browser-deps``).

    Args:
        result_or_figure: an interp result or a plotly Figure.
        path: the file to write (``.pdf`` is added when it has no suffix).
        scale: size factor (kept for the signature of :func:`save_png`; a vector file scales freely).
        **opts: figure options (e.g. ``kind=``, ``layer=``, ``head=``).

    Raises:
        InterpError: when kaleido or a browser for it is missing.
    """
    return _save_image("pdf", result_or_figure, path, scale=scale, **opts)


def _save_image(fmt: str, result_or_figure: Any, path: str | Path, *, scale: float, **opts: Any) -> Path:
    """One figure through plotly's static exporter (kaleido drives a headless Chromium) as ``fmt``."""
    import plotly.graph_objects as go

    from interp import checks
    from interp.errors import InterpError
    from widgets import figure

    if not isinstance(result_or_figure, go.Figure):
        _check_result(result_or_figure, "result_or_figure")
    scale = checks.number("scale", scale, low=0, low_open=True)
    path = _file(path, f".{fmt}")
    fig = result_or_figure if isinstance(result_or_figure, go.Figure) else figure(result_or_figure, **opts)
    try:
        data = fig.to_image(format=fmt, scale=scale)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise InterpError(
            f"{fmt.upper()} export failed ({type(err).__name__}: {first}): install chromium (apt-get install "
            f"chromium) or run make browser-deps for {fmt.upper()} export, and kaleido (pip install kaleido); "
            "save_html needs neither"
        ) from err
    return _write(path, data)


def save_report(items: list, path: str | Path, title: str = "interp report", intro: str = "") -> Path:
    """Several results in one self-contained offline HTML file (plotly.js inlined once).

    Args:
        items: ``(heading, result)`` pairs; a heading is plain text (escaped here), a result anything
            :func:`save_html` accepts, or a string of already escaped HTML.
        path: the file to write.
        title: the page title (escaped).
        intro: already escaped HTML placed under the title.

    Returns:
        The path written.
    """
    from interp.errors import InputError, echo

    for name, text in (("title", title), ("intro", intro)):
        if not isinstance(text, str):
            raise InputError(f"{name} must be a string, got {echo(text, 80)}")
    if not isinstance(items, (list, tuple)) or not all(
        isinstance(i, (tuple, list)) and len(i) == 2 for i in items
    ):
        raise InputError(f"items must be a list of (heading, result) pairs, got {echo(items, 80)}")
    for i, (heading, item) in enumerate(items):
        if not isinstance(heading, str):
            raise InputError(f"items[{i}]'s heading must be a string, got {echo(heading, 80)}")
        if not isinstance(item, str):
            _check_result(item, f"items[{i}]'s result")
    path = _file(path, None)
    parts: list = [intro] if intro else []
    for heading, item in items:
        parts.append(f"<h2>{esc(heading)}</h2>")
        parts += [item] if isinstance(item, str) else sections(item)
    return _write(path, render_html(parts, title).encode("utf-8"))
