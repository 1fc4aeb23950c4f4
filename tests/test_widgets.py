"""Views: figures, interactive views, export and payload, built from real results of tiny seeded models."""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

import interp
from interp.results import AttentionResult, Result

XSS = "<img src=x onerror=alert(1)>"
XSS_ESCAPED = html.escape(XSS)


@pytest.fixture(scope="module")
def results(tiny_model):
    c, b = tiny_model("gpt2"), tiny_model("bert")
    return {
        "attention": interp.attention(c, "the keys to the cabinet are on the table ."),
        "attention_bi": interp.attention(b, "the keys to the cabinet are on the table ."),
        "lens": interp.logit_lens(b, "the keys to the [MASK] are here ."),
        "lens_causal": interp.logit_lens(c, "the keys to the cabinet are"),
        "attribution": interp.attribute(c, "anna lives in oslo . anna lives in", n_steps=8),
        "comparison": interp.compare(
            c, b, "the keys to the cabinet ___ on the table .", answer="are", n_steps=8
        ),
        "induction": interp.induction_scores(c, seq_len=8),
    }


def xss_tokens(tokens):
    return tuple(XSS if i == 1 else t for i, t in enumerate(tokens))


def xss_run(run):
    att = dataclasses.replace(run.attention, tokens=xss_tokens(run.attention.tokens))
    top = run.lens.top_tokens.astype(f"<U{len(XSS)}")
    top[:, :, 0] = XSS
    lens = dataclasses.replace(run.lens, tokens=att.tokens, top_tokens=top)
    attr = dataclasses.replace(run.attribution, tokens=xss_tokens(run.attribution.tokens))
    return dataclasses.replace(run, attention=att, lens=lens, attribution=attr)


@pytest.fixture(scope="module")
def xss_results(results):
    """The same results with a script-injecting token, model name, answer, probe and lens top-1 token."""
    out = {}
    for name in ("attention", "attention_bi", "lens", "attribution"):
        r = results[name]
        fields = {"tokens": xss_tokens(r.tokens), "model_name": XSS}
        if name in ("lens", "attribution"):
            fields["answer"] = XSS
        if name == "lens":
            top = r.top_tokens.astype(f"<U{len(XSS)}")
            top[:, :, 0] = XSS
            fields["top_tokens"] = top
        out[name] = dataclasses.replace(r, **fields)
    cmp = results["comparison"]
    out["comparison"] = dataclasses.replace(
        cmp,
        probe=XSS,
        answer=XSS,
        causal=dataclasses.replace(xss_run(cmp.causal), top1=XSS),
        bidirectional=xss_run(cmp.bidirectional),
    )
    return out


def widget_states(root) -> str:
    """JSON text of the states of ``root`` and every widget it references (what the frontend receives)."""
    from ipywidgets.widgets.widget import _instances

    from widgets.payload import _refs

    seen, todo, texts = set(), [root.model_id], []
    while todo:
        model_id = todo.pop()
        if model_id in seen:
            continue
        seen.add(model_id)
        state = _instances[model_id].get_state()
        state.pop("_esm", None)
        texts.append(json.dumps(state, default=str))
        todo += [r[len("IPY_MODEL_") :] for r in _refs(state)]
    return "\n".join(texts)


def none_count(z) -> int:
    return sum(v is None for row in z for v in row)


def escaped(tokens) -> list[str]:
    return [html.escape(t) for t in tokens]


# ---- figures ----------------------------------------------------------------------------------------------
def test_head_view_causal_draws_the_mask(results):
    import widgets

    r = results["attention"]
    T = len(r.tokens)
    fig = widgets.figure(r, kind="head", layer=1, head=2)
    assert len(fig.data) == 2 and fig.data[1].name == "masked (future)"
    z = fig.data[0].z
    assert np.array(z, dtype=float).shape == (T, T)
    assert none_count(z) == T * (T - 1) // 2
    assert sum(v is not None for row in fig.data[1].z for v in row) == T * (T - 1) // 2
    values = np.array(z, dtype=float)
    seen = np.tril(np.ones((T, T), dtype=bool))
    np.testing.assert_allclose(values[seen], r.patterns[1, 2][seen], atol=5e-4)
    assert list(fig.layout.xaxis.ticktext) == escaped(r.tokens) == list(fig.layout.yaxis.ticktext)
    assert "layer 1" in fig.layout.title.text and "head 2" in fig.layout.title.text


def test_head_view_bidirectional_has_no_mask(results):
    import widgets

    r = results["attention_bi"]
    T = len(r.tokens)
    fig = widgets.figure(r)  # head view of layer 0, head 0 by default
    assert len(fig.data) == 1
    assert np.array(fig.data[0].z, dtype=float).shape == (T, T) and none_count(fig.data[0].z) == 0
    np.testing.assert_allclose(np.array(fig.data[0].z, dtype=float), r.patterns[0, 0], atol=5e-4)


def test_model_view_has_every_head(results):
    import widgets

    for name in ("attention", "attention_bi"):
        r = results[name]
        T = len(r.tokens)
        fig = widgets.figure(r, kind="model")
        heat = [t for t in fig.data if t.type == "heatmap"]
        assert len(heat) == r.n_layers * r.n_heads
        assert [t.name for t in heat[:2]] == ["L0H0", "L0H1"]
        assert all(np.array(t.z, dtype=float).shape == (T, T) for t in heat)
        masked = T * (T - 1) // 2 if r.kind == "causal" else 0
        assert none_count(heat[-1].z) == masked
        np.testing.assert_allclose(
            np.nan_to_num(np.array(heat[-1].z, dtype=float)), r.patterns[-1, -1], atol=6e-3
        )


def test_stats_and_rollout_figures(results):
    import widgets

    r = results["attention"]
    stats = widgets.figure(r, kind="stats")
    assert [t.name for t in stats.data][:3] == ["past mass", "self mass", "future mass"]
    assert len(stats.data) == 6
    np.testing.assert_allclose(np.array(stats.data[0].z, dtype=float), r.head_stats["past"], atol=5e-4)
    np.testing.assert_allclose(np.array(stats.data[2].z, dtype=float), 0, atol=1e-6)  # causal: no future mass
    content = widgets.figure(r, kind="stats", content=True)
    np.testing.assert_allclose(
        np.array(content.data[5].z, dtype=float), r.head_stats["entropy_content"], atol=5e-4
    )
    assert stats.layout.coloraxis2.cmid == 0  # distance is signed: diverging, centred
    roll = widgets.figure(r, kind="rollout")
    T = len(r.tokens)
    assert none_count(roll.data[0].z) == T * (T - 1) // 2
    np.testing.assert_allclose(np.nan_to_num(np.array(roll.data[0].z, dtype=float)), r.rollout, atol=5e-4)


def test_bad_options_raise_interp_errors(results):
    import widgets

    r = results["attention"]
    with pytest.raises(interp.InterpError, match="layers"):
        widgets.figure(r, layer=r.n_layers)
    with pytest.raises(interp.InterpError, match="head, model, stats"):
        widgets.figure(r, kind="nope")
    with pytest.raises(interp.InterpError, match="no figure"):
        widgets.figure(Result(model_name="m", kind="causal"))


def test_lens_figure(results):
    import widgets

    for name in ("lens", "lens_causal"):
        r = results[name]
        T, Lp1 = len(r.tokens), r.n_layers + 1
        fig = widgets.figure(r)
        heat = fig.data[0]
        assert heat.type == "heatmap" and np.array(heat.z, dtype=float).shape == (Lp1, T)
        np.testing.assert_allclose(np.array(heat.z, dtype=float), r.top_probs[:, :, 0], atol=5e-4)
        assert list(heat.y) == r.layer_names
        assert [list(row) for row in heat.text] == [escaped(row) for row in r.top_tokens[:, :, 0]]
        f = r.focus[0]
        assert all(html.escape(str(t)) in heat.hovertext[-1][f] for t in r.top_tokens[-1, f])
        assert list(fig.layout.xaxis.ticktext) == escaped(r.tokens)
        curves = [t for t in fig.data if t.type == "scatter"]
        assert len(curves) == 2 * len(r.focus)
        np.testing.assert_allclose(curves[0].y, r.answer_prob[:, f], atol=5e-5)
        assert list(curves[1].y) == r.answer_rank[:, f].tolist() and curves[1].yaxis == "y3"
        assert len(fig.layout.shapes) == len(r.focus)  # focus outlines
        answer = widgets.figure(r, kind="answer")
        assert [t.type for t in answer.data] == ["scatter", "scatter"] * len(r.focus)


def test_attribution_figure(results):
    import widgets

    r = results["attribution"]
    fig = widgets.figure(r)
    boxes, bars = fig.data
    assert list(boxes.z[0]) == r.scores.astype(float).tolist()
    assert list(bars.marker.color) == r.scores.astype(float).tolist()
    assert list(boxes.text[0]) == escaped(r.tokens)
    axis = fig.layout.coloraxis
    assert axis.cmid == 0 and axis.cmin == -axis.cmax == -np.abs(r.scores).max()
    title = fig.layout.title.text
    assert "integrated gradients" in title and f"answer {r.answer}" in title and "IG delta" in title
    assert f"{r.attr_left_mass:.2f} / {r.attr_right_mass:.2f}" in title
    no_delta = dataclasses.replace(r, delta=float("nan"), contrast="oslo")
    title = widgets.figure(no_delta, bars=False).layout.title.text
    assert "IG delta" not in title and "vs oslo" in title


def test_comparison_figures(results):
    import widgets

    cmp = results["comparison"]
    c, b = cmp.causal, cmp.bidirectional
    heads = widgets.figure(cmp, kind="heads", layer=1, head=3)
    assert [t.name for t in heads.data] == ["causal L1H3", "masked (future)", "bidirectional L1H3"]
    Tc, Tb = len(c.attention.tokens), len(b.attention.tokens)
    assert (
        np.array(heads.data[0].z, dtype=float).shape == (Tc, Tc)
        and none_count(heads.data[0].z) == Tc * (Tc - 1) // 2
    )
    assert np.array(heads.data[2].z, dtype=float).shape == (Tb, Tb) and none_count(heads.data[2].z) == 0
    assert heads.data[2].xaxis == "x2" and list(heads.layout.xaxis2.ticktext) == escaped(b.attention.tokens)
    lens = widgets.figure(cmp, kind="lens")
    assert len(lens.data) == 4
    np.testing.assert_allclose(lens.data[2].y, b.lens.answer_prob[:, b.position], atol=5e-5)
    attr = widgets.figure(cmp, kind="attribution")
    assert list(attr.data[0].z[0]) == c.attribution.scores.astype(float).tolist()
    assert list(attr.data[1].z[0]) == b.attribution.scores.astype(float).tolist()
    table = widgets.figure(cmp, kind="summary").data[0]
    metrics, causal, bidirectional = (list(col) for col in table.cells.values)
    assert metrics == list(cmp.summary)
    for metric, cv, bv in zip(metrics, causal, bidirectional):
        assert float(cv) == pytest.approx(cmp.summary[metric]["causal"], abs=6e-4)
        assert float(bv) == pytest.approx(cmp.summary[metric]["bidirectional"], abs=6e-4)
    assert c.model_name in table.header.values[1] and b.model_name in table.header.values[2]


def test_induction_figure(results):
    import widgets

    r = results["induction"]
    fig = widgets.figure(r)
    np.testing.assert_allclose(np.array(fig.data[0].z, dtype=float), r.scores, atol=5e-4)


# ---- interactive views ------------------------------------------------------------------------------------
def test_attention_view_controls_update_the_figure_in_place(results):
    import plotly.graph_objects as go

    import widgets

    r = results["attention"]
    view = widgets.view(r)
    fw = view.head_figure
    assert isinstance(fw, go.FigureWidget) and set(view.tabs.built) == {0}  # other tabs wait until opened
    trace = fw.data[0]
    view.layer.value = 1
    assert fw.data[0] is trace  # updated in place, not rebuilt
    np.testing.assert_allclose(
        np.nan_to_num(np.array(fw.data[0].z, dtype=float)), r.patterns[1, 0], atol=5e-4
    )
    view.head.value = 3
    np.testing.assert_allclose(
        np.nan_to_num(np.array(fw.data[0].z, dtype=float)), r.patterns[1, 3], atol=5e-4
    )
    assert "layer 1 · head 3" in fw.layout.title.text
    # a click on head (0, 2) in the all-heads grid opens it in the head view
    grid = view.model_figure
    index = 0 * r.n_heads + 2
    view.tabs.tab.selected_index = 1
    grid._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {"trace_indexes": [index], "point_indexes": [[1, 1]], "xs": [1], "ys": [1]},
    }
    assert (view.layer.value, view.head.value) == (0, 2) and view.tabs.tab.selected_index == 0
    np.testing.assert_allclose(
        np.nan_to_num(np.array(fw.data[0].z, dtype=float)), r.patterns[0, 2], atol=5e-4
    )
    # statistics: all tokens / content only
    stats = view.stats_figure
    view.content.value = "content only"
    np.testing.assert_allclose(
        np.array(stats.data[0].z, dtype=float), r.head_stats["past_content"], atol=5e-4
    )
    assert "content tokens only" in stats.layout.title.text


def test_comparison_view_shares_controls(results):
    import widgets

    cmp = results["comparison"]
    view = widgets.view(cmp)
    fw = view.heads_figure
    view.layer.value = 1
    view.head.value = 2
    np.testing.assert_allclose(
        np.nan_to_num(np.array(fw.data[0].z, dtype=float)), cmp.causal.attention.patterns[1, 2], atol=5e-4
    )
    np.testing.assert_allclose(
        np.array(fw.data[2].z, dtype=float), cmp.bidirectional.attention.patterns[1, 2], atol=5e-4
    )
    assert (fw.data[0].name, fw.data[2].name) == ("causal L1H2", "bidirectional L1H2")  # named as shown
    from widgets.common import fmt

    text = view.children[0].value  # the summary table above the tabs
    for metric, v in cmp.summary.items():
        assert f"<td>{metric}</td><td>{fmt(v['causal'])}</td><td>{fmt(v['bidirectional'])}</td>" in text
    assert len(view.tabs.build(1).data) == 4 and len(view.tabs.build(2).data) == 2


def test_every_result_has_a_view_and_displays(results):
    import ipywidgets

    import widgets

    for name, r in results.items():
        v = widgets.view(r)
        assert isinstance(v, ipywidgets.Widget), name
        bundle = r._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle, name
        assert "view unavailable" not in bundle["text/plain"]
    run = results["comparison"].bidirectional
    assert isinstance(widgets.view(run), ipywidgets.Widget)
    assert widgets.figure(run, kind="lens").data[0].type == "heatmap"


def _figure_widgets(widget):
    import plotly.graph_objects as go

    if isinstance(widget, go.FigureWidget):
        yield widget
    for child in getattr(widget, "children", ()):
        yield from _figure_widgets(child)


def test_every_view_shares_one_plotly_module_per_page(results):
    """plotly's bundle travels once per kernel, in one library widget that every figure references; each
    figure's own module is a small loader (imported once per page under a key naming the bundle's hash), so
    the widget state of a whole notebook holds plotly.js once."""
    from ipywidgets import Widget

    import widgets
    from widgets.figurewidget import library, loader_esm, plotly_bundle
    from widgets.payload import widget_bytes

    esm, bundle = loader_esm(), plotly_bundle()
    assert len(esm) < 4000 and bundle[:2000] not in esm and esm.count("import(") == 1
    assert re.search(r"export\{[^}]*\bFigureModel\b[^}]*as default\};", bundle)  # plotly's own factory
    assert re.search(r'Symbol\.for\("interp\.plotly-figurewidget\.[0-9a-f]{16}"\)', esm)
    lib = library()
    assert lib._plotly_bundle == bundle and lib._model_module == "@jupyter-widgets/base"
    found = 0
    for name, r in results.items():
        view = widgets.view(r)
        tabs = getattr(view, "tabs", None)
        for i in range(len(getattr(tabs, "builders", ()))):
            tabs.build(i)
        figures = list(_figure_widgets(view))
        for fw in figures:
            # by module: other tests re-import the widgets modules, which makes new class objects
            assert type(fw).__module__ == "widgets.figurewidget" and fw._esm == esm, name
            assert fw.get_state()["_plotly_library"] == f"IPY_MODEL_{library().model_id}", name
            found += 1
        data, code = widget_bytes(view)
        assert len(bundle) <= code <= len(bundle) + len(figures) * (len(esm) + 100), name  # the bundle once
    assert found >= len(results)
    # Every live widget's state, as a notebook stores it: plotly.js once, however many figures.
    state = json.dumps(Widget.get_manager_state())
    assert found >= 6 and state.count(json.dumps(bundle[-3000:])[1:-1]) == 1
    # A frontend without the library model asks the figure itself (an anywidget command) for the bundle.
    response, buffers = fw._send_plotly_bundle({}, [])
    assert response is None and buffers == [bundle.encode()]
    # A closed library is replaced by a new one for the next figure.
    lib.close()
    fresh = widgets.common.figure_widget(widgets.figure(results["induction"]))
    assert library() is not lib and fresh.get_state()["_plotly_library"] == f"IPY_MODEL_{library().model_id}"


def test_static_figures_do_not_load_the_widget_machinery():
    code = (
        "import sys, widgets, widgets.registry as r; r.load_builtins(); "
        "print(sorted(m for m in ('widgets.figurewidget', 'plotly.basewidget', 'anywidget') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fallback_and_registry(results):
    import ipywidgets

    import widgets
    from widgets.registry import REGISTRY, lookup

    plain = Result(model_name="<b>m</b>", kind="causal")
    v = widgets.view(plain)
    assert isinstance(v, ipywidgets.HTML) and "&lt;b&gt;m&lt;/b&gt;" in v.value and "<b>m</b>" not in v.value
    assert lookup(plain) is None

    class SpecialAttention(AttentionResult):
        pass

    r = results["attention"]
    special = SpecialAttention(**{f.name: getattr(r, f.name) for f in dataclasses.fields(r)})
    assert lookup(special) is REGISTRY[AttentionResult]  # nearest registered class in the MRO
    try:
        widgets.register(SpecialAttention, figure=lambda result, **opts: ("custom", opts))
        assert widgets.figure(special, k=1) == ("custom", {"k": 1})
    finally:
        REGISTRY.pop(SpecialAttention, None)


# ---- export -----------------------------------------------------------------------------------------------
def check_html(text: str, figures: int) -> None:
    assert text.count("plotly.js v") == 1  # the bundle's banner: inlined exactly once
    assert text.count("Plotly.newPlot") == figures
    assert not re.search(r"<script[^>]*\bsrc=", text)  # nothing loaded from anywhere
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", text, flags=re.S)
    bundle = [s for s in scripts if "plotly.js v" in s]
    assert len(bundle) == 1
    rest = text.replace(bundle[0], "")  # the bundle mentions cdn.plot.ly as its (unused) topojson default
    assert "cdn.plot.ly" not in rest and "https://" not in rest and "require" not in rest
    assert XSS not in text


def test_save_html_is_one_offline_file(results, tmp_path):
    import widgets

    expected = {
        "attention": 5,
        "attention_bi": 5,
        "lens": 2,
        "attribution": 1,
        "comparison": 3,
        "induction": 1,
    }
    for name, n in expected.items():
        path = widgets.save_html(results[name], tmp_path / name)
        assert path == tmp_path / f"{name}.html" and list(tmp_path.glob(f"{name}*")) == [path]
        check_html(path.read_text(encoding="utf-8"), n)


def test_save_report_inlines_plotly_once(results, tmp_path):
    """Five results in one report: one copy of plotly.js for all their figures, and the page weighs little
    more than that copy."""
    import plotly.offline

    import widgets

    names = ("attention", "lens", "attribution", "comparison", "induction")
    path = widgets.save_report([(f"<h3>{n}</h3>", results[n]) for n in names], tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    check_html(text, figures=5 + 2 + 1 + 3 + 1)
    assert "&lt;h3&gt;lens&lt;/h3&gt;" in text  # headings are escaped
    plotly_js = len(plotly.offline.get_plotlyjs().encode())
    assert plotly_js < path.stat().st_size < plotly_js + 1_000_000


def test_tokens_are_escaped_everywhere(xss_results, tmp_path):
    import widgets

    for name, r in xss_results.items():
        text = widgets.save_html(r, tmp_path / f"{name}.html").read_text(encoding="utf-8")
        assert XSS not in text and XSS_ESCAPED in text, name
        states = widget_states(widgets.view(r))
        assert XSS not in states and XSS_ESCAPED in states, name
        for fig in (widgets.figure(r),):
            assert XSS not in fig.to_json(), name
    att = xss_results["attention"]
    fig = widgets.figure(att)
    assert fig.layout.xaxis.ticktext[1] == XSS_ESCAPED
    view = widgets.view(xss_results["comparison"])
    view.tabs.build(1), view.tabs.build(2)
    assert XSS not in widget_states(view)


def test_views_and_export_need_no_network(results, tmp_path, monkeypatch):
    import widgets

    def refuse(*args, **kwargs):
        raise OSError("network blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    for name, r in results.items():
        view = widgets.view(r)
        for index in range(1, len(getattr(getattr(view, "tabs", None), "builders", []))):
            view.tabs.build(index)
        widgets.save_html(r, tmp_path / f"{name}.html")


def test_save_png(results, tmp_path, monkeypatch):
    import plotly.graph_objects as go

    import widgets

    def broken(self, *args, **kwargs):
        raise RuntimeError("Kaleido requires Google Chrome to be installed.")

    with monkeypatch.context() as m:
        m.setattr(go.Figure, "to_image", broken)
        with pytest.raises(interp.InterpError, match=r"install chromium \(apt-get install chromium\)"):
            widgets.save_png(results["induction"], tmp_path / "x.png")
    if not (shutil.which("chromium") or shutil.which("google-chrome")):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI needs Chromium for kaleido's PNG export: make browser-deps", pytrace=False)
        pytest.skip("no Chrome/Chromium here for kaleido: make browser-deps")
    path = widgets.save_png(results["induction"], tmp_path / "induction", scale=1)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- payload ----------------------------------------------------------------------------------------------
def synthetic_attention(L=12, H=12, T=128, seed=0) -> AttentionResult:
    """A gpt2-small-shaped causal attention result with random normalised patterns."""
    rng = np.random.default_rng(seed)
    p = rng.random((L, H, T, T), dtype=np.float32) * np.tril(np.ones((T, T), dtype=np.float32))
    p /= p.sum(-1, keepdims=True)
    stats = {k + s: rng.random((L, H)) for k in interp.results.HEAD_STATS for s in ("", "_content")}
    return AttentionResult(
        model_name="synthetic",
        kind="causal",
        tokens=tuple(f"t{i}" for i in range(T)),
        patterns=p,
        head_stats=stats,
        rollout=np.eye(T),
        special=np.zeros(T, dtype=bool),
    )


def test_attention_payload_is_compact():
    from widgets.payload import attention_payload_bytes

    r = synthetic_attention()
    pay = attention_payload_bytes(r)
    print(
        f"\npayload gpt2-small shape: view {pay.all_tabs_bytes / 1e6:.2f} MB (initial {pay.initial_bytes / 1e6:.2f} MB, "
        f"update {pay.update_bytes / 1e3:.0f} kB) vs JSON {pay.full_json_bytes / 1e6:.1f} MB: ratio {pay.ratio:.4f} "
        f"(vs 3-decimal JSON {pay.rounded_ratio:.4f}); plotly.js code {pay.code_bytes / 1e6:.1f} MB"
    )
    assert pay.ratio <= 0.25 and pay.rounded_ratio <= 0.25
    T = len(r.tokens)
    assert pay.update_bytes < 8 * T * T  # one head's (T, T) matrix at ~6 characters a value, nothing more
    assert pay.initial_bytes < pay.all_tabs_bytes and math.isfinite(pay.ratio)


def test_import_interp_does_not_import_views():
    code = "import sys, interp; print(sorted(m for m in ('widgets', 'plotly', 'ipywidgets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_views_say_what_they_draw_at_the_edges(causal, bidirectional):
    """An unscored token has no bar (not a bar of 0 bits); a multi-token answer's lens line says it follows the
    first token; a patch toward a user objective (no read position) draws; view takes a list of results and
    refuses what is not one."""
    import ipywidgets

    import widgets
    from interp.errors import InputError

    scored = interp.score(causal, ["anna has a red car ."], progress=False)
    bars = widgets.figure(scored).data[0]
    assert bars.y[0] is None and bars.customdata[0] == " (not scored)" and bars.y[1] > 0
    lens = interp.logit_lens(bidirectional, "anna lives in ___ .", answer="big red", progress=False)
    names = [t.name for t in widgets.figure(lens, kind="answer").data]
    assert names[0].startswith("p(1st of 2 tokens of big red) at ")
    with pytest.warns(interp.errors.InterpWarning, match="pooling"):
        sim = interp.objectives.similarity(causal, "anna has a red car .")
    patched = interp.patch(
        causal,
        "anna has a red car .",
        "anna has a big car .",
        hook="z",
        by="head_position",
        objective=sim,
        progress=False,
    )
    fig = widgets.figure(patched)
    assert [d.visible for d in fig.data].index(True) == 0  # no read position: the first is shown
    assert (
        fig.layout.title.text.split(" · ")[-1].startswith("similarity to")
        and " vs " not in fig.layout.title.text
    )
    many = interp.logit_lens(causal, ["anna has a ___ .", "ben has a ___ ."], progress=False)
    box = widgets.view(many)
    assert isinstance(box, ipywidgets.VBox) and len(box.children) == 2
    with pytest.raises(InputError, match="takes an interp result"):
        widgets.view("anna")


def test_every_export_refuses_an_option_its_figure_does_not_take(causal, bidirectional, tmp_path):
    import widgets
    from interp.errors import InputError

    probe = "anna has a red car . anna has a ___ ."
    compared = interp.compare(causal, bidirectional, probe, answer="red", method=None)
    refused = [
        (interp.ablate(causal, probe, [(0, 0)], answer="red"), dict(layer=1)),
        (interp.attention(causal, probe), dict(colour=1)),
        (interp.logit_lens(causal, probe), dict(layer=1)),
        (compared, dict(bogus=1)),
        (compared.causal, dict(kind="lens")),
    ]
    for result, opts in refused:
        with pytest.raises(InputError, match="unknown figure option"):
            widgets.save_html(result, tmp_path / "x.html", **opts)
    with pytest.raises(InputError, match=r"unknown figure option\(s\) bogus: this figure takes kind"):
        widgets.figure(compared.bidirectional, kind="lens", bogus=1)
    assert widgets.save_html(interp.attention(causal, probe), tmp_path / "ok.html", layer=1, head=2).exists()
