"""plotly's FigureWidget, with plotly.js compiled once per page instead of once per figure.

plotly ships FigureWidget as an anywidget whose ES module is the whole plotly.js bundle (~5 MB). anywidget
imports every widget's module from a fresh blob URL, so the browser parses, compiles and runs plotly.js again
for each figure it shows: most of a view's time to first paint. Here each figure's module is a small wrapper
that carries the same bundle as a string and imports it once per page (keyed by the bundle's hash, so two
plotly versions never mix); every later figure reuses that module. Nothing else changes: the Python side, the
trait sync and the bundle are plotly's own, and no file or URL outside the widget's state is needed, so it
works offline in JupyterLab, Notebook 7 and VS Code alike.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib

import plotly.graph_objects as go
from plotly.basewidget import BaseFigureWidget

_WRAPPER = """\
const KEY = Symbol.for(%(key)s);
const IMPORTS = Symbol.for(%(key)s + "/imports");  // how many times this page imported the bundle (tests read it)
const SOURCE = %(source)s;

function plotlyWidget() {
  if (!globalThis[KEY]) {
    const url = URL.createObjectURL(new Blob([SOURCE], { type: "text/javascript" }));
    globalThis[KEY] = import(url).then(
      (module) => {
        URL.revokeObjectURL(url);
        return module;
      },
      (err) => {
        URL.revokeObjectURL(url);
        delete globalThis[KEY];  // let the next figure try again
        throw err;
      },
    );
    globalThis[IMPORTS] = (globalThis[IMPORTS] || 0) + 1;
  }
  return globalThis[KEY];
}

// anywidget calls the default export once per widget model: plotly's own factory does the rest.
export default async () => (await plotlyWidget()).default();
"""


@functools.cache
def plotly_bundle() -> str:
    """The text of plotly's FigureWidget ES module (the bundle go.FigureWidget itself ships)."""
    # anywidget turns plotly's path into FileContents, whose str() is the file's text (what anywidget itself
    # sends); should it ever stay a path, read the file.
    esm = vars(BaseFigureWidget)["_esm"]
    text = str(esm)
    return text if "\n" in text else pathlib.Path(text).read_text(encoding="utf-8")


@functools.cache
def shared_esm() -> str:
    """The wrapper module: plotly's bundle as a string, imported at most once per page."""
    source = plotly_bundle()
    key = "interp.plotly-figurewidget." + hashlib.sha256(source.encode()).hexdigest()[:16]
    # json.dumps escapes every non-ASCII character and quote: a valid JavaScript string literal.
    return _WRAPPER % {"key": json.dumps(key), "source": json.dumps(source)}


class FigureWidget(go.FigureWidget):
    """A plotly FigureWidget whose plotly.js is shared by all figures on the page (see the module doc)."""

    _esm = shared_esm()
