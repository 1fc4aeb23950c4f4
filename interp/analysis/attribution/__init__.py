"""Attribution with captum: one call shape for every method, one algorithm per module.

``interp.attribute(model, text, answer=..., contrast=..., method=..., position=..., n_steps=...)`` explains the
objective at the read position of :meth:`interp.Model.frame`: ``logit(answer) [- logit(contrast)]`` for single
tokens, the summed log-probabilities for answers of several tokens, or ``objective=``: a function of the final
residual stream, which is what a model without a language-model head can be asked about.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch

from interp import checks
from interp.analysis import memory as _estimate
from interp.analysis import target as _target
from interp.analysis.attribution import baselines as _baselines
from interp.analysis.attribution import layer as _layer
from interp.analysis.attribution import memory as _memory
from interp.analysis.attribution.input_x_gradient import input_x_gradient
from interp.analysis.attribution.integrated_gradients import MAX_N_STEPS, integrated_gradients, low_precision
from interp.analysis.attribution.integrated_gradients import METHOD as INTEGRAL
from interp.analysis.attribution.integrated_gradients import METHODS as INTEGRALS
from interp.analysis.attribution.objective import Objective
from interp.analysis.attribution.occlusion import occlusion
from interp.analysis.attribution.saliency import saliency
from interp.analysis.memory import rows_of
from interp.analysis.registry import analysis
from interp.errors import InputError
from interp.models.frame import Frame, ids_str
from interp.models.handle import Model
from interp.models.reading import read
from interp.results import AttributionResult, LayerAttributionResult
from interp.results.attribution import words_of

METHODS = {
    "integrated_gradients": integrated_gradients,
    "saliency": saliency,
    "input_x_gradient": input_x_gradient,
    "occlusion": occlusion,
}


def check_method(method: str, n_steps: int, tolerance: float | None) -> tuple[str, int, float | None]:
    """The attribution settings, checked: a known method, ``2 <= n_steps <= MAX_N_STEPS`` (an integer), and a
    finite ``tolerance > 0`` or None."""
    method = checks.choice("attribution method", method, METHODS)
    n_steps = checks.integer("n_steps", n_steps, low=2, high=MAX_N_STEPS)
    if tolerance is not None:
        tolerance = checks.number(
            "tolerance", tolerance, low=0, low_open=True, what="a finite number > 0 or None"
        )
    return method, n_steps, tolerance


@analysis(
    "attribute",
    result=(AttributionResult, LayerAttributionResult),
    needs={"gradients"},
    memory=_estimate.attribution_memory,
    magic="attribute",
)
def attribute(
    model: Model,
    text: str | torch.Tensor,
    *,
    answer: str | int | None = None,
    contrast: str | int | None = None,
    objective: Callable[[torch.Tensor], torch.Tensor] | None = None,
    method: str = "integrated_gradients",
    position: int | None = None,
    n_steps: int = 50,
    tolerance: float | None = 0.01,
    allow_unknown: bool = False,
    check_memory: bool = True,
    integral: str = INTEGRAL,
    baseline: str | torch.Tensor | None = None,
    hook: str | None = None,
    progress: bool = True,
) -> AttributionResult | LayerAttributionResult | list:
    """Per-token attribution of the objective at the read position of :meth:`interp.Model.frame`.

    ``text`` is a probe with one ``___`` slot, plain text or tokens. The objective is ``logit(answer)
    [- logit(contrast)]`` when both are single tokens, else the summed log-probability of the answer's tokens
    [minus the contrast's] (causal: a teacher-forced continuation after the slot; masked LM: one mask per
    token). ``answer`` defaults to the model's own top-1. Methods: ``integrated_gradients`` (from ``baseline``,
    below; the midpoint rule), ``saliency``, ``input_x_gradient``, ``occlusion`` (each token replaced by its
    ``baseline``). ``n_steps`` and ``tolerance`` are integrated gradients' path steps and its completeness
    tolerance: where ``|delta|`` exceeds ``tolerance`` times the objective's change, the steps double (up to 8x);
    ``None`` keeps exactly ``n_steps``. ``integral`` is integrated gradients' quadrature: ``"riemann_middle"``
    (midpoints, the default) or another of captum's rules, e.g. ``"gausslegendre"`` (fewer steps where the
    integrand is smooth, more where it is sharp: see ``integrated_gradients.METHOD``). The other methods ignore
    all three. ``n_steps`` is at most ``MAX_N_STEPS``
    (1000). The memory the method needs is estimated before anything is allocated; past what the machine has
    (free GPU memory, or the system's available memory) it is refused with :class:`interp.errors.ResourceError`
    giving the estimate (``check_memory=False`` runs it anyway; :func:`interp.estimate_memory` gives the
    number).

    ``objective``, instead of an answer: a function from the final residual stream ``(batch, T, d_model)`` to
    one number per row ``(batch,)``, e.g. ``interp.objectives.similarity(model, "another text")``. The text is
    then read whole (no read position); this works on a model without a language-model head. A probe's
    ``___`` slot still splits its scores: ``attr_left_mass`` / ``attr_right_mass`` are their shares left and
    right of it (0 for text without a slot).

    ``baseline``: what integrated gradients and occlusion compare the input with (the result's ``baseline``;
    completeness is against it): ``"pad"``, ``"mask"``, ``"zero"`` or ``"unk"`` (that token's embedding, or
    zeros, at every attributed token; special tokens kept), a text of the same token count (framed as the input
    is), or token embeddings ``(T, d_model)``. The default is ``"mask"`` for a masked LM (the most complete and
    the most side-sensitive on the zoo's probes: docs/concepts.md) and ``"pad"`` for a causal model. ``saliency`` and ``input_x_gradient`` read the
    gradient at the input alone and refuse a baseline.

    ``hook``: attribute to one hook point's activation instead of the input tokens, by its full name as
    :meth:`interp.Model.hooks` takes it (``"blocks.3.hook_resid_pre"``, ``"blocks.3.attn.hook_z"``,
    ``"blocks.3.mlp.hook_post"``): integrated gradients along the activation, from the one the baseline input
    gives (captum's ``LayerIntegratedGradients``), returning a :class:`~interp.results.LayerAttributionResult`
    with scores ``(T,)`` for a residual-stream point, ``(T, n_heads)`` for ``attn.hook_z``, ``(T, d_mlp)`` for an
    MLP's hidden layer.

    Every result also sums its scores over the input's words (``result.word_scores``, ``result.words``).

    ``text`` may be a list of texts: ``answer`` and ``contrast`` are then one value for all or a list of the same
    length, the texts run in batches (integrated gradients: padded to the longest of a chunk, chunks sized to the
    free memory), one progress bar (``progress=False``: none), and the result is a list, each equal to the text's
    own call within 1e-5.
    """
    checks.model(model)
    method, n_steps, tolerance = check_method(method, n_steps, tolerance)
    integral = checks.choice("integral", integral, INTEGRALS)
    baseline = _baselines.check(model, baseline, method)
    if hook is not None:
        hook = _layer.check_hook(model, hook)
        if method != "integrated_gradients":
            raise InputError(
                f"hook= attributes by integrated gradients along the activation; method={method!r} has no "
                "layer form here: drop method= (or hook=)"
            )
    texts = checks.listed(text)
    if texts is not None:
        from interp.analysis.attribution import many

        return many.attribute_many(
            model,
            texts,
            answer=answer,
            contrast=contrast,
            objective=objective,
            method=method,
            position=position,
            n_steps=n_steps,
            tolerance=tolerance,
            allow_unknown=allow_unknown,
            check_memory=check_memory,
            integral=integral,
            baseline=baseline,
            hook=hook,
            progress=checks.flag("progress", progress),
        )
    reading = read(
        model,
        text,
        answer=answer,
        contrast=contrast,
        position=position,
        objective=objective,
        allow_unknown=allow_unknown,
    )
    frame = reading.frame
    if objective is not None:
        _memory.check_memory(model, frame.T, 1, method, n_steps, tolerance, check_memory)
        target = reading.target
        return explain(
            model,
            frame,
            target,
            method,
            n_steps,
            tolerance,
            check_memory=check_memory,
            integral=integral,
            baseline=baseline,
            hook=hook,
        )
    a_ids, c_ids = reading.answer, reading.contrast
    if frame.position is None:  # unreachable with require_read; kept for type checkers
        raise InputError("nothing to read")
    # Before any forward pass: the most tokens and rows the target can have.
    shape = rows_of(model, frame.T, a_ids, c_ids)  # an unknown answer counts as one token
    _memory.check_memory(model, *shape, method, n_steps, tolerance, check_memory)
    if a_ids is None:
        with torch.no_grad():
            a_ids = (int(model.logits_at(frame.tokens, frame.position)[0].argmax()),)
    target = _target.make(model, frame, a_ids, c_ids)
    return explain(
        model,
        frame,
        target,
        method,
        n_steps,
        tolerance,
        check_memory=check_memory,
        integral=integral,
        baseline=baseline,
        hook=hook,
    )


def completeness_warnings(result: AttributionResult, low_precision: bool = False) -> tuple[str, ...]:
    """IG whose completeness error stayed above its tolerance (the steps stopped doubling at their cap, or at
    a low-precision model's rounding floor): the scores do not add up to the objective's change, and say so."""
    settings, error = result.settings, result.completeness_error
    tolerance = settings.get("tolerance")
    if tolerance is None or math.isnan(error) or error <= tolerance:
        return ()
    floor = (
        "load the model in float32 (its dtype's rounding stopped the refinement), " if low_precision else ""
    )
    return (
        f"integrated gradients' scores miss the objective's change by {100 * error:.3g}% (tolerance "
        f"{100 * tolerance:.3g}%) after {settings.get('steps_used')} path steps: {floor}pass a larger n_steps "
        "(the steps double up to 8 times n_steps), or read these scores as approximate",
    )


def explain(
    model: Model,
    frame: Frame,
    target: _target.Target,
    method: str = "integrated_gradients",
    n_steps: int = 50,
    tolerance: float | None = 0.01,
    value: float | None = None,
    *,
    check_memory: bool = True,
    integral: str = INTEGRAL,
    baseline: object = None,
    hook: str | None = None,
    out: dict | None = None,
) -> AttributionResult | LayerAttributionResult:
    """The attribution of ``target`` at ``frame`` (``value``: the objective at the input, if already known
    from the caller's own forward pass; ``check_memory=False``: no refusal past the free memory; ``integral``:
    integrated gradients' quadrature; ``baseline``: checked by :func:`.baselines.check`, None the pad token;
    ``hook``: a checked hook point to attribute to; ``out``: the method's output, already computed by a
    batch of texts)."""
    rows = target.rows.shape
    _memory.check_memory(model, int(rows[1]), int(rows[0]), method, n_steps, tolerance, check_memory)
    # None here is a caller's own pass (compare's): the pad token, one baseline for both kinds of model
    baseline = _baselines.check(model, baseline, method, _baselines.DEFAULT) if baseline is None else baseline
    # A batch of texts hands over its computed ``out``: no objective to build (its embeddings cost forward passes)
    objective = (
        None
        if out is not None
        else Objective(model, target, _baselines.DEFAULT if baseline is None else baseline, frame)
    )
    extra = (
        {"method": checks.choice("integral", integral, INTEGRALS)} if method == "integrated_gradients" else {}
    )
    if hook is not None:
        out = _layer.layer_integrated_gradients(objective, hook, n_steps, tolerance, **extra)
        return _layer_result(model, frame, target, out, hook, baseline)
    if out is None:
        out = METHODS[method](objective, n_steps=n_steps, tolerance=tolerance, **extra)
    if baseline is not None:
        out["settings"] = {**out.get("settings", {}), "baseline": _baselines.description(baseline)}
    if value is None:
        value = out.get("value")  # integrated gradients evaluates f(x) itself
    if value is None:
        if objective is None:
            raise ValueError("a precomputed out needs its value")
        with torch.no_grad():
            value = float(objective(objective.inputs)[0])
    scores = out["scores"].float().cpu().numpy()[: frame.T]
    # A user objective reads the whole text, but a probe's ___ slot still splits it: its masses are reported
    # around the slot as an answer's are (only an objective of plain text, with no slot, has no sides).
    sided = target.objective is None or frame.is_probe
    left, right = frame.side_shares(scores) if sided else (0.0, 0.0)
    delta = out.get("delta", math.nan)
    baseline_value = value - out["gap"] if "gap" in out else math.nan
    result = AttributionResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=frame.str_tokens,
        scores=scores,
        objective=value,
        delta=delta,
        attr_left_mass=float(left),
        attr_right_mass=float(right),
        method=method,
        baseline_objective=baseline_value,
        settings=out.get("settings", {}),
        baseline=_baselines.label(baseline),
        **_labels(model, frame, target),
        **_words(frame),
    )
    warned = completeness_warnings(result, low_precision(model))
    return dataclasses.replace(result, warnings=warned) if warned else result


def _words(frame: Frame) -> dict:
    """``words`` and ``word_index`` of a frame (a masked slot's tokens are the word ``___``)."""
    if frame.text is None:
        return {"words": (), "word_index": None}
    words, index = words_of(frame.word_index, frame.text.split(), frame.slot_positions)
    return {"words": words, "word_index": index}


def _labels(model: Model, frame: Frame, target: _target.Target) -> dict:
    """The answer's, contrast's and read position's fields of a result."""
    if target.objective is not None:
        return {
            "answer": _target.objective_label(target.objective),
            "answer_ids": (),
            "position": None,
            "slot": None,
            "objective_kind": "objective",
        }
    return {
        "answer": ids_str(model, target.answer),
        "answer_ids": target.answer,
        "position": frame.position,
        "slot": frame.slot,
        "contrast": None if target.contrast is None else ids_str(model, target.contrast),
        "contrast_ids": target.contrast,
        "objective_kind": "log_prob" if target.log_prob else "logit",
    }


def _layer_result(
    model: Model, frame: Frame, target: _target.Target, out: dict, hook: str, baseline: object
) -> LayerAttributionResult:
    result = LayerAttributionResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=frame.str_tokens,
        hook=hook,
        unit=out["unit"],
        scores=out["scores"].float().cpu().numpy()[: frame.T],
        objective=out["value"],
        baseline_objective=out["value"] - out["gap"],
        delta=out["delta"],
        baseline=_baselines.label(baseline),
        settings={**out["settings"], "baseline": _baselines.description(baseline)},
        **_labels(model, frame, target),
        **_words(frame),
    )
    warned = completeness_warnings(result, low_precision(model))
    return dataclasses.replace(result, warnings=warned) if warned else result


__all__ = ["METHODS", "attribute", "explain"]
