"""Layer attribution: integrated gradients along one hook point's activation, equal to captum's
LayerIntegratedGradients on the same model, hook point, baseline and steps; complete against the activation's
baseline value; scores per position, per head, or per neuron."""

import numpy as np
import pytest
from captum.attr import LayerIntegratedGradients

import interp
from interp.analysis.attribution.objective import Objective
from interp.models.reading import read

PROBE = "the keys to the cabinet ___ on the table ."
HOOKS = ["blocks.1.hook_resid_pre", "blocks.1.attn.hook_z", "blocks.0.mlp.hook_post"]


def captum_scores(model, hook, baseline, n_steps, unit):
    reading = read(model, PROBE, answer="are", contrast="is")
    obj = Objective(model, reading.target, baseline, reading.frame)
    layer = model.bridge.hook_dict[hook]  # the hook point's module: what captum hooks
    a = (
        LayerIntegratedGradients(obj, layer)
        .attribute(obj.inputs, baselines=obj.baseline, n_steps=n_steps, method="riemann_middle")[0]
        .detach()
    )  # (T, ...): hook_z's module sees (T, n_heads * d_head)
    T = reading.frame.T
    return (
        a
        if unit == "neuron"
        else a.reshape(T, -1, a.shape[-1] // (model.n_heads if unit == "head" else 1)).sum(-1).squeeze(-1)
    )[:T].numpy()


@pytest.mark.parametrize("arch", ["gpt2", "bert"])
@pytest.mark.parametrize("hook", HOOKS)
def test_equal_to_captum_layer_integrated_gradients(tiny_model, arch, hook):
    m = tiny_model(arch)
    baseline = "zero" if "mlp" in hook else "pad"
    r = interp.attribute(
        m, PROBE, answer="are", contrast="is", hook=hook, baseline=baseline, n_steps=12, tolerance=None
    )
    want = captum_scores(m, hook, baseline, 12, r.unit)
    assert r.scores.shape == want.shape
    np.testing.assert_allclose(r.scores, want, atol=1e-5, rtol=0)


def test_shapes_units_and_completeness_on_the_zoo_models(causal, bidirectional):
    for m in (causal, bidirectional):
        T = m.frame(PROBE).T
        shapes = {
            "blocks.3.hook_resid_pre": ("position", (T,)),
            "blocks.3.attn.hook_z": ("head", (T, m.n_heads)),
            "blocks.3.mlp.hook_post": ("neuron", (T, m.d_mlp)),
        }
        for hook, (unit, shape) in shapes.items():
            r = interp.attribute(m, PROBE, answer="are", contrast="is", hook=hook)
            assert (r.unit, r.scores.shape, r.hook) == (unit, shape, hook)
            gap = r.objective - r.baseline_objective
            assert abs(r.scores.sum() - gap) <= 0.01 * abs(gap) and r.completeness_check().startswith(
                "within"
            )
            assert r.baseline == ("mask" if m.kind == "bidirectional" else "pad") and len(r.top_units(3)) == (
                1 if unit == "position" else 3
            )
        if m.kind != "causal":
            continue  # BERT normalises its embeddings before block 0: no longer the input path
        plain = interp.attribute(m, PROBE, answer="are", contrast="is")
        # GPT-2's residual stream before block 0 is the token plus position embeddings: its path is the input
        # path, position by position (the position embeddings cancel in the difference), so the scores equal
        # input integrated gradients'
        first = interp.attribute(m, PROBE, answer="are", contrast="is", hook="blocks.0.hook_resid_pre")
        np.testing.assert_allclose(first.scores, plain.scores, atol=2e-3 * np.abs(plain.scores).max())


def test_the_top_neurons_are_the_largest_summed_scores(causal):
    r = interp.attribute(causal, PROBE, answer="are", hook="blocks.2.mlp.hook_post")
    top = r.top_units(5)
    totals = r.scores.sum(0)
    assert [i for i, _ in top] == list(np.argsort(-np.abs(totals), kind="stable")[:5])
    assert "top neurons: L2N" in r.summary_text()
    table = r.to_dataframe()
    assert len(table) == r.scores.size and set(table.columns) == {"position", "token", "neuron", "score"}


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"hook": "blocks.9.hook_resid_pre"}, "blocks.9"),
        ({"hook": "hook_embed"}, "full name"),
        ({"hook": "blocks.1.attn.hook_pattern"}, "attention weights"),
        ({"hook": "blocks.1.hook_resid_pre", "method": "saliency"}, "no layer form"),
        ({"hook": "blocks.1.hook_resid_pre", "answer": "are", "contrast": "is on"}, "one row"),
    ],
)
def test_bad_hooks_are_clear_errors(causal, kwargs, says):
    kwargs = {"answer": "are", **kwargs}
    with pytest.raises(interp.InterpError, match=says):
        interp.attribute(causal, PROBE, **kwargs)


def test_a_layer_attribution_of_a_user_objective_is_titled_by_it(causal):
    import warnings

    import widgets

    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # the pooling notice of a model without a sentence-transformers config
        sim = interp.objectives.similarity(causal, "anna has a red car .")
    r = interp.attribute(
        causal, "anna has a red car .", objective=sim, hook="blocks.1.attn.hook_z", n_steps=4
    )
    title = widgets.figure(r).layout.title.text
    assert "objective similarity to 'anna has a red car .'" in title and "answer " not in title
    answered = interp.attribute(causal, PROBE, answer="are", hook="blocks.1.attn.hook_z", n_steps=4)
    assert "answer are at position" in widgets.figure(answered).layout.title.text
