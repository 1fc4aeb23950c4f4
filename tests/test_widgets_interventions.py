"""Views of interventions: patching and head-importance heatmaps, ablation bars, escaped export."""

import numpy as np
import pytest

import interp
import widgets

CLEAN = "the key to the cabinet ___ on the table ."
CORRUPT = "the keys to the cabinet ___ on the table ."


@pytest.fixture(scope="module")
def results(tiny_model):
    c, b = tiny_model("gpt2"), tiny_model("bert")
    return {
        "patch": interp.patch(b, CLEAN, CORRUPT, answer="is", contrast="are", progress=False),
        "importance": interp.head_importance(c, CLEAN, answer="is", progress=False),
        "ablate": interp.ablate(c, CLEAN, [(0, 1), (1, 2)], answer="is"),
    }


def test_patching_heatmap(results):
    r = results["patch"]
    fig = widgets.figure(r)
    (heat,) = fig.data
    assert np.array(heat.z, dtype=float).shape == r.restored.shape
    np.testing.assert_allclose(np.array(heat.z, dtype=float), np.round(r.restored, 3))
    assert list(fig.layout.xaxis.ticktext) == list(r.tokens)
    assert len(fig.layout.shapes) == len(r.changed) == 1  # the changed subject token is outlined
    assert fig.layout.coloraxis.cmid == 0


def test_head_importance_heatmap_and_toggle(results):
    r = results["importance"]
    fig = widgets.figure(r)
    np.testing.assert_allclose(np.array(fig.data[0].z, dtype=float), np.round(r.effects, 4))
    view = widgets.view(r)
    toggle, fw = view.children[1], view.children[2]
    toggle.value = "logit"
    np.testing.assert_allclose(np.array(fw.data[0].z, dtype=float), np.round(r.logit_effects, 4))


def test_ablation_bars(results):
    r = results["ablate"]
    fig = widgets.figure(r)
    assert list(fig.data[0].x) == ["before", "after"]
    assert fig.data[0].y == pytest.approx((round(r.prob_before, 4), round(r.prob_after, 4)))
    assert "L0H1, L1H2" in fig.layout.title.text


def test_exports_escape_tokens(results, tmp_path):
    import dataclasses

    r = results["patch"]
    evil = "<img src=x onerror=alert(1)>"
    tokens = (evil,) + r.tokens[1:]
    bad = dataclasses.replace(r, tokens=tokens, corrupt_tokens=(evil,) + r.corrupt_tokens[1:])
    path = widgets.save_html(bad, tmp_path / "p.html")
    text = path.read_text()
    assert evil not in text and "&lt;img src=x onerror=alert(1)&gt;" in text


def test_quotes_stay_readable_while_markup_is_escaped(results):
    import dataclasses

    r = results["patch"]
    tokens = ('say "hi" <b>',) + r.tokens[1:]
    fig = widgets.figure(dataclasses.replace(r, tokens=tokens, corrupt_tokens=tokens))
    assert fig.layout.xaxis.ticktext[0] == 'say "hi" &lt;b&gt;'
