"""plotly's FigureWidget, with plotly.js sent, stored and compiled once per kernel instead of once per figure.

plotly ships FigureWidget as an anywidget whose ES module (the ``_esm`` trait of every figure's model) is the
whole plotly.js bundle, ~5 MB: each figure sends it to the browser, stores it again in a notebook saved with
its widget state, and makes the page parse and run it once more. Here the bundle travels once, in one
model-only widget per kernel (:class:`PlotlyLibrary`, a plain ``@jupyter-widgets/base`` model every frontend
knows), and each figure's module is a small loader that:

1. reuses plotly's module if this page already imported it (keyed by the bundle's hash, so two plotly
   versions never mix);
2. else reads the bundle from the library model the figure references (``model.widget_manager.get_model``),
   which the kernel sends once and a notebook stores once with its widget state;
3. else (a frontend that lost the library model) asks the kernel for it with an anywidget command.

plotly's own factory does the rest: the Python side, the trait sync and the bundle are plotly's. Nothing
outside the widget state is loaded, so it works offline in JupyterLab, Notebook 7 and VS Code alike.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib

import ipywidgets
import plotly.graph_objects as go
import traitlets
from anywidget.experimental import command
from plotly.basewidget import BaseFigureWidget

BUNDLE_TRAIT = "_plotly_bundle"
"""The library widget's trait that holds plotly's FigureWidget bundle (code, not data)."""

_LOADER = """\
const KEY = Symbol.for(%(key)s);
const IMPORTS = Symbol.for(%(key)s + "/imports");  // how many times this page imported the bundle (tests read it)
const PREFIX = "IPY_MODEL_";

// plotly's module, imported at most once per page; source() gives the bundle's text.
function plotly(source) {
  if (!globalThis[KEY]) {
    globalThis[KEY] = source().then(async (text) => {
      const url = URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
      globalThis[IMPORTS] = (globalThis[IMPORTS] || 0) + 1;
      try {
        return await import(url);
      } finally {
        URL.revokeObjectURL(url);
      }
    });
    globalThis[KEY].catch(() => delete globalThis[KEY]);  // let the next figure try again
  }
  return globalThis[KEY];
}

// The bundle from the library model this figure references; null without one.
async function fromLibrary(model) {
  try {
    const ref = model.get("_plotly_library");
    const library = await model.widget_manager.get_model(ref.slice(PREFIX.length));
    return library.get(%(trait)s) || null;
  } catch (err) {
    console.debug("plotly library model unavailable, asking the kernel", err);
    return null;
  }
}

async function fromKernel(experimental) {
  const [, buffers] = await experimental.invoke("_send_plotly_bundle", {}, { signal: AbortSignal.timeout(60000) });
  return new TextDecoder().decode(buffers[0]);
}

// anywidget calls the default export once per widget model; plotly's own factory does the rest.
export default () => {
  let figure;
  return {
    async initialize(context) {
      const start = (module) => {
        const widget = module.default();
        widget.initialize(context);
        return widget;
      };
      const text = globalThis[KEY] ? null : await fromLibrary(context.model);
      if (!globalThis[KEY] && text === null) {
        // anywidget holds this model's messages, the kernel's reply included, until initialize returns:
        // ask without waiting here, and make the figure when the bundle has come.
        figure = plotly(() => fromKernel(context.experimental)).then(start);
        return;
      }
      figure = plotly(async () => text).then(start);
      await figure;
    },
    async render(context) {
      return (await figure).render(context);
    },
  };
};
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
def loader_esm() -> str:
    """Each figure's module: a loader of plotly's bundle (about 2 kB; see the module doc)."""
    key = "interp.plotly-figurewidget." + hashlib.sha256(plotly_bundle().encode()).hexdigest()[:16]
    return _LOADER % {"key": json.dumps(key), "trait": json.dumps(BUNDLE_TRAIT)}


class PlotlyLibrary(ipywidgets.Widget):
    """A model-only widget that carries plotly's bundle once for every figure of the kernel."""

    _plotly_bundle = traitlets.Unicode().tag(sync=True)


_library: PlotlyLibrary | None = None


def library() -> PlotlyLibrary:
    """The kernel's library widget (a new one if there is none yet or it was closed)."""
    global _library
    if _library is None or _library.comm is None:
        _library = PlotlyLibrary(_plotly_bundle=plotly_bundle())
    return _library


class FigureWidget(go.FigureWidget):
    """A plotly FigureWidget that takes plotly.js from the kernel's :class:`PlotlyLibrary` (see the module doc)."""

    _esm = loader_esm()
    _plotly_library = traitlets.Instance(PlotlyLibrary).tag(sync=True, **ipywidgets.widget_serialization)

    @traitlets.default("_plotly_library")
    def _default_library(self) -> PlotlyLibrary:
        return library()

    @command
    def _send_plotly_bundle(self, msg: object, buffers: list) -> tuple[None, list[bytes]]:
        """The bundle as one binary buffer, for a frontend without the library model."""
        return None, [plotly_bundle().encode()]
