"""Attribution patching: the first-order estimate computed by hand, its agreement with real patching on the
trained models, the AtP* fix, and the circuit views."""

import numpy as np
import pytest
import torch

import interp
from interp.errors import InputError

CLEAN = "the key to the cabinet ___ on the table ."
CORRUPT = "the keys to the cabinet ___ on the table ."


def test_the_estimate_is_the_gradient_times_the_difference(tiny_model):
    """By hand, on a tiny GPT-2: resid_pre of block 1 at every position, one cell per position."""
    torch.set_num_threads(1)
    m = tiny_model("gpt2")
    r = interp.attribution_patch(
        m, CLEAN, CORRUPT, hook="resid_pre", by="position", answer="is", contrast="are"
    )
    a, c = m.to_single_token("is"), m.to_single_token("are")
    cf, xf = m.frame(CLEAN), m.frame(CORRUPT)
    name = "blocks.1.hook_resid_pre"
    _, clean = m.run_with_cache(cf.tokens, names=[name])
    leaf = {}

    def grab(act, hook):
        leaf["x"] = act.detach().requires_grad_(True)
        return leaf["x"]

    with torch.enable_grad(), m.hooks({name: grab}):
        logits = m(xf.tokens)
        value = logits[0, cf.position, a] - logits[0, cf.position, c]
        (grad,) = torch.autograd.grad(value, [leaf["x"]])
    hand = ((clean[name] - leaf["x"].detach()) * grad)[0].sum(-1).numpy()  # (T,)
    np.testing.assert_allclose(r.raw[1] - r.corrupt_diff, hand, atol=1e-5)
    assert r.corrupt_diff == pytest.approx(float(value.detach()), abs=1e-5)
    assert r.method == "atp" and not r.validated and r.real is None


@pytest.mark.parametrize("which", ["causal", "bidirectional"])
def test_attribution_patching_agrees_with_real_patching_on_trained_heads(request, which):
    torch.set_num_threads(1)
    m = request.getfixturevalue(which)
    r = interp.attribution_patch(
        m, CLEAN, CORRUPT, hook="z", by="head", answer="is", contrast="are", validate=True, progress=False
    )
    real = interp.patch(m, CLEAN, CORRUPT, hook="z", by="head", answer="is", contrast="are", progress=False)
    np.testing.assert_allclose(r.real, real.restored, atol=1e-6)
    assert r.pearson > 0.85 and r.top_k_overlap >= 0.8, (r.pearson, r.top_k_overlap)
    # The ranking of the heads that matter (a real effect of at least 5% of the largest); below that, heads
    # whose effects are all near zero rank by noise (r.spearman counts them too).
    matter = np.abs(r.real) >= 0.05 * np.abs(r.real).max()
    ranks = [np.argsort(np.argsort(v[matter])) for v in (r.real, r.restored)]
    assert matter.sum() >= 2 and np.corrcoef(*ranks)[0, 1] > 0.85, (r.real, r.restored)
    assert np.argmax(r.real) == np.argmax(r.restored)
    assert "against real patching: pearson" in repr(r)


def test_atp_star_fixes_saturated_keys_on_a_causal_model(causal, bidirectional, tiny_model):
    torch.set_num_threads(1)
    kw = dict(hook="k", by="head_position", answer="is", contrast="are", validate=True, progress=False)
    plain = interp.attribution_patch(causal, CLEAN, CORRUPT, **kw)
    fixed = interp.attribution_patch(causal, CLEAN, CORRUPT, method="atp*", **kw)
    assert fixed.method == "atp*" and fixed.pearson > plain.pearson and fixed.pearson > 0.98
    # a masked LM's pattern is rebuilt from its queries and keys too; a rotary model's cannot be
    masked = interp.attribution_patch(bidirectional, CLEAN, CORRUPT, method="atp*", **kw)
    assert masked.pearson > 0.95
    with pytest.raises(InputError, match=r"method='atp\*' needs"):
        interp.attribution_patch(tiny_model("llama"), CLEAN, CORRUPT, hook="q", method="atp*", progress=False)
    with pytest.raises(InputError, match="unknown method="):
        interp.attribution_patch(causal, CLEAN, CORRUPT, method="atp2")


def test_attribution_patching_of_patterns_through_the_head_output(tiny_model, bidirectional, monkeypatch):
    """Where the engine ignores an edited pattern (BERT), the pattern's gradient is the head output's times
    the values: on GPT-2, where both exist, the estimates agree; on a trained masked model they track real
    patching."""
    from interp.analysis import patching_grid

    torch.set_num_threads(1)
    m = tiny_model("gpt2")
    kw = dict(hook="pattern", by="head_position", answer="is", contrast="are", progress=False)
    direct = interp.attribution_patch(m, CLEAN, CORRUPT, **kw)
    monkeypatch.setattr(patching_grid, "pattern_route", lambda *a: "pattern_z")
    through_z = interp.attribution_patch(m, CLEAN, CORRUPT, **kw)
    monkeypatch.undo()
    np.testing.assert_allclose(through_z.raw, direct.raw, atol=1e-6, rtol=1e-5)
    assert np.abs(direct.raw - direct.corrupt_diff).max() > 0
    r = interp.attribution_patch(bidirectional, CLEAN, CORRUPT, validate=True, **{**kw, "by": "head"})
    assert r.pearson > 0.8, r.pearson


def test_circuit_views_draw_their_data(tiny_model, causal, bidirectional):
    import widgets
    from widgets.circuits import pair_figure

    m = tiny_model("gpt2")
    by_pos = interp.patch(
        m, CLEAN, CORRUPT, hook="v", by="head_position", answer="is", contrast="are", progress=False
    )
    fig = widgets.figure(by_pos)
    T = len(by_pos.tokens)
    assert len(fig.data) == T and [d.visible for d in fig.data].index(True) == by_pos.position
    np.testing.assert_allclose(np.array(fig.data[2].z, dtype=float), by_pos.restored[:, :, 2], atol=1e-3)
    assert len(fig.layout.sliders[0].steps) == T and "logit difference" in fig.layout.title.text
    paths = interp.path_patch(m, CLEAN, CORRUPT, answer="is", contrast="are", progress=False)
    fig = widgets.figure(paths)
    np.testing.assert_allclose(np.array(fig.data[0].z, dtype=float), paths.restored, atol=1e-3)
    assert "sender -&gt; logits" in fig.layout.title.text or "sender -> logits" in fig.layout.title.text
    atp = interp.attribution_patch(
        m, CLEAN, CORRUPT, answer="is", contrast="are", validate=True, progress=False
    )
    scatter = widgets.figure(atp)
    np.testing.assert_allclose(np.array(scatter.data[1].x, dtype=float), atp.real.ravel(), atol=1e-3)
    np.testing.assert_allclose(np.array(scatter.data[1].y, dtype=float), atp.restored.ravel(), atol=1e-3)
    grid = widgets.figure(atp, show="grid")
    assert "attribution patching (atp)" in grid.layout.title.text
    heads = [
        interp.patch(x, CLEAN, CORRUPT, hook="z", by="head", answer="is", contrast="are", progress=False)
        for x in (causal, bidirectional)
    ]
    both = pair_figure(*heads)
    assert len(both.data) == 2
    np.testing.assert_allclose(np.array(both.data[1].z, dtype=float), heads[1].restored, atol=1e-3)
    with pytest.raises(InputError, match="layer x head grids"):
        pair_figure(by_pos, heads[0])
