"""Integrated gradients' quadrature and its forward passes: midpoints by default, Gauss-Legendre as an option,
captum's arithmetic to the bit, completeness within the tolerance, no forward pass whose result is thrown away."""

import importlib
import math

import pytest
import torch

import interp
from interp.analysis import target as _target
from interp.analysis.attribution.objective import Objective
from interp.errors import InputError

IG = importlib.import_module("interp.analysis.attribution.integrated_gradients")
TEXT = "anna lives in oslo . anna lives in"


@pytest.fixture(scope="module")
def causal_objective(tiny_model):
    m = tiny_model("gpt2")
    frame = m.frame(TEXT)
    return m, Objective(m, _target.make(m, frame, (m.to_single_token("oslo"),)))


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_middle"])
@pytest.mark.parametrize("n_steps", [3, 8])
def test_scores_equal_captums_integrated_gradients(causal_objective, method, n_steps):
    """Our loop is captum's IntegratedGradients arithmetic: the same scores and the same convergence delta."""
    from captum.attr import IntegratedGradients

    _, obj = causal_objective
    ours = IG.integrated_gradients(obj, n_steps=n_steps, tolerance=None, method=method)
    attr, delta = IntegratedGradients(obj).attribute(
        obj.inputs, baselines=obj.baseline, n_steps=n_steps, method=method, return_convergence_delta=True
    )
    ref = attr.sum(-1)[0]
    torch.testing.assert_close(ours["scores"], ref, rtol=1e-5, atol=1e-6)
    assert ours["delta"] == pytest.approx(abs(float(delta[0])), abs=1e-5)
    assert ours["settings"]["integral"] == method and ours["settings"]["steps_used"] == n_steps


def test_midpoints_are_the_default_and_gauss_legendre_the_option(pair_causal):
    """interp.attribute integrates with midpoints (the scores of captum's riemann_middle, as before);
    explain(integral="gausslegendre") with captum's default, which on this smooth path is far more complete."""
    from interp.analysis.attribution import explain

    m = pair_causal
    r = interp.attribute(m, TEXT, answer="oslo", n_steps=4, tolerance=None)
    assert r.settings["integral"] == IG.METHOD == "riemann_middle" and r.settings["steps_used"] == 4
    frame = m.frame(TEXT)
    target = _target.make(m, frame, (m.to_single_token("oslo"),))
    gl = explain(m, frame, target, n_steps=4, tolerance=None, integral="gausslegendre")
    assert gl.settings["integral"] == "gausslegendre" and gl.objective == pytest.approx(r.objective)
    for x in (r, gl):
        gap = x.objective - x.baseline_objective
        assert x.delta == pytest.approx(abs(x.scores.sum() - gap), abs=1e-5)
    assert gl.delta < r.delta
    with pytest.raises(InputError, match="unknown integral"):
        explain(m, frame, target, n_steps=4, integral="simpson")


@pytest.mark.parametrize("integral", ["riemann_middle", "gausslegendre"])
def test_completeness_within_the_tolerance_and_steps_recorded(pair_causal, integral):
    from interp.analysis.attribution import explain

    m = pair_causal
    frame = m.frame(TEXT)
    target = _target.make(m, frame, (m.to_single_token("oslo"),))
    for tolerance in (0.01, 1e-3):
        r = explain(m, frame, target, n_steps=2, tolerance=tolerance, integral=integral)
        gap = r.objective - r.baseline_objective
        used = r.settings["steps_used"]
        assert used in (2, 4, 8, 16) and r.settings["n_steps"] == 2 and r.settings["tolerance"] == tolerance
        if used < 16:  # below the cap the refinement stopped because the tolerance was met
            assert abs(r.scores.sum() - gap) <= tolerance * abs(gap) + 1e-6


def test_no_forward_pass_is_thrown_away(pair_causal, monkeypatch):
    """One no-gradient pass gives f(x) and f(baseline) (batch 2) for every round of doubling and for the
    reported objective; each round adds one forward+backward per internal batch, nothing else."""
    m = pair_causal
    calls = []
    original = Objective.__call__

    def counted(self, e):
        calls.append((e.shape[0], torch.is_grad_enabled()))
        return original(self, e)

    monkeypatch.setattr(Objective, "__call__", counted)
    r = interp.attribute(m, TEXT, answer="oslo", n_steps=4, tolerance=1e-12)  # doubles to the cap, 32
    assert r.settings["steps_used"] == 32
    assert calls[0] == (2, False)
    assert all(grad for _, grad in calls[1:]) and [n for n, _ in calls[1:]] == [4, 8, 16, 32]
    logits = m(TEXT)[0, r.position]
    assert math.isclose(r.objective, float(logits[r.answer_id]), rel_tol=1e-5)


def test_the_batches_sum_to_the_unbatched_result(causal_objective, monkeypatch):
    _, obj = causal_objective
    whole = IG.integrated_gradients(obj, n_steps=8, tolerance=None)
    monkeypatch.setattr(IG, "internal_batch_size", lambda *a, **k: 3)  # 3 + 3 + 2 steps
    split = IG.integrated_gradients(obj, n_steps=8, tolerance=None)
    assert split["settings"]["internal_batch_size"] == 3
    torch.testing.assert_close(split["scores"], whole["scores"], rtol=1e-5, atol=1e-6)


def test_an_unknown_integral_method_is_refused():
    with pytest.raises(ValueError, match="gausslegendre"):
        IG.quadrature("simpson", 4)


@pytest.fixture(scope="module")
def pair_causal(causal_objective):
    return causal_objective[0]


def test_scores_that_miss_the_tolerance_say_so(pair_causal):
    """IG whose completeness error stays above the tolerance after the steps double to their cap carries a
    warning in the result, its summary and its view; one within the tolerance carries none."""
    from widgets.attribution import attribution_figure

    m = pair_causal
    loose = interp.attribute(m, TEXT, answer="oslo", n_steps=2, tolerance=1e-9)
    assert loose.settings["steps_used"] == 16 and loose.completeness_error > 1e-9
    (warning,) = loose.warnings
    assert "miss the objective's change by" in warning and "after 16 path steps" in warning
    assert (
        "(tolerance 1e-07%)" in warning and "float32" not in warning
    )  # a float32 model is told no such thing
    assert f"warning: {warning}" in loose.summary_text()
    assert "warning:" in attribution_figure(loose).layout.title.text
    fine = interp.attribute(m, TEXT, answer="oslo", n_steps=64, tolerance=0.5)
    assert fine.completeness_error <= 0.5 and fine.warnings == ()
    assert interp.attribute(m, TEXT, answer="oslo", n_steps=2, tolerance=None).warnings == ()
    assert interp.attribute(m, TEXT, answer="oslo", method="saliency").warnings == ()


def test_a_comparison_repeats_its_attributions_warnings(causal, bidirectional):
    from widgets.compare import attribution_compare_figure

    probe = "the keys to the cabinet ___ on the table ."
    cmp = interp.compare(causal, bidirectional, probe, answer="are", n_steps=2, tolerance=1e-9)
    warned = [w for run in (cmp.causal, cmp.bidirectional) for w in run.attribution.warnings]
    assert len(warned) == 2 and all("miss the objective's change" in w for w in warned)
    assert cmp.summary_text().count("warning (") == 2
    assert attribution_compare_figure(cmp).layout.title.text.count("warning:") == 2
    clean = interp.compare(causal, bidirectional, probe, answer="are")
    assert (
        "warning" not in clean.summary_text()
        and "warning" not in attribution_compare_figure(clean).layout.title.text
    )


def test_a_low_precision_model_is_told_its_dtype_limits_completeness(tiny_folder):
    m = interp.load(tiny_folder("gpt2"), dtype="bfloat16")
    r = interp.attribute(m, TEXT, answer="oslo", n_steps=4, tolerance=1e-9)
    (warning,) = r.warnings
    assert "load the model in float32" in warning and r.settings["steps_used"] <= 32
