"""A causal and a bidirectional model on the same probe, each in its own framing, side by side.

The causal model reads the slot from the prefix (time); the bidirectional model reads it at the mask with both
sides visible (space). Attention, the lens and the prediction come from one forward pass per model; attribution
(optional) adds integrated gradients' batched passes. :func:`interp.compare_suite` runs the same code over
many probes, batched: one definition of every number in the summary.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from typing import Any

import torch

from interp import checks
from interp.analysis.attribution import check_method, explain
from interp.analysis.lens import LAYER_GROUP_BYTES, decision_depth, lens_result, rank_of
from interp.analysis.patterns import attention_result, pattern_names
from interp.analysis.registry import analysis
from interp.analysis.tuned import TunedLens, translators_for
from interp.errors import InputError, ResultError, echo
from interp.models import hooks as _hooks
from interp.models.frame import Frame, ids_str, pad_id, split_probe, token_str
from interp.models.handle import Model
from interp.models.reading import Reading, read
from interp.results import Comparison, LensResult, ProbeRun
from interp.results.analyses import ATTRIBUTION_METRICS, METRICS
from interp.results.lazy import Later


def check_pair(causal: Model, bidirectional: Model) -> None:
    if not isinstance(causal, Model) or not isinstance(bidirectional, Model):
        bad = causal if not isinstance(causal, Model) else bidirectional
        raise InputError(
            "compare takes two models from interp.load(...) (causal first, bidirectional second), got "
            f"{type(bad).__name__}"
        )
    if getattr(causal, "kind", None) != "causal":
        raise InputError(
            f"the first model must be causal, but {echo(getattr(causal, 'name', causal))} is "
            f"{getattr(causal, 'kind', 'not a model')}: call compare(causal, bidirectional, probe)"
        )
    if getattr(bidirectional, "kind", None) != "bidirectional":
        raise InputError(
            f"the second model must be bidirectional, but {echo(getattr(bidirectional, 'name', bidirectional))} is "
            f"{getattr(bidirectional, 'kind', 'not a model')}: call compare(causal, bidirectional, probe)"
        )
    for model in (causal, bidirectional):
        model.require_lm_head()  # before either model runs: the comparison reads both models' answers


DEFERRED_LOGITS_BYTES = 2**20
"""The most bytes of decoded logits a comparison holds for a lens not yet read; past it the lens is built at once."""


@dataclass
class Readout:
    """What one pass gives of one probe's reading (its answer resolved: the given one, else the model's top-1):
    the summary and (for compare) the full arrays."""

    reading: Reading
    summary: dict[str, float]
    top1: str
    value: float
    resid: torch.Tensor | None = None  # (L+1, T_row, d_model), kept for compare's lens
    patterns: torch.Tensor | None = None  # (L, H, T, T), kept for compare's attention
    logits: torch.Tensor | None = None  # (L+1, T_row, d_vocab), every layer decoded once, for compare's lens


def lens_translators(lens: str, causal: Model, bidirectional: Model) -> dict[str, TunedLens | None]:
    """Each side's tuned-lens translators (``lens="tuned"``; an InputError saying how to train missing ones),
    or None for the logit lens; found before any forward pass."""
    lens = checks.choice("lens", lens, ("logit", "tuned"))
    return {m.kind: translators_for(m) if lens == "tuned" else None for m in (causal, bidirectional)}


@torch.no_grad()
def read_probes(
    model: Model,
    readings: list[Reading],
    *,
    keep: bool = False,
    translators: TunedLens | None = None,
    exact: bool = True,
) -> list[Readout]:
    """One padded forward pass over the probes' answer rows: prediction, lens rows at the read position and
    attention from it, summarised per probe (``keep``: also the full residuals and patterns). ``translators``:
    the lens rows are the tuned lens's (the final row, the prediction, is the model's own either way).
    ``exact``: the answer's reads are decoded on their own, so that the objective an attribution starts from
    is bit-identical to its own; without an attribution they are taken from the decoded layers (``keep``)."""
    targets = [None if r.answer is None else r.target for r in readings]
    rows = [r.frame.tokens[0] if t is None else t.rows[0, : t.lengths[0]] for r, t in zip(readings, targets)]
    B, T = len(rows), max(len(r) for r in rows)
    device = model.device
    padded = any(len(r) < T for r in rows)  # known from the lengths: no device sync
    if padded:
        tokens = torch.full((B, T), pad_id(model), dtype=torch.long, device=device)  # (B, T), right-padded
        mask = torch.zeros(B, T, dtype=torch.long, device=device)
        for i, r in enumerate(rows):
            tokens[i, : len(r)], mask[i, : len(r)] = r, 1
    else:  # rows of one length (compare's single probe): no padding to write, no mask to build
        tokens = torch.stack(rows).to(device=device, dtype=torch.long)
    resids, pats = _hooks.resid_names(model), pattern_names(model)
    _, cache = model.run_with_cache(
        tokens, resids + pats, attention_mask=mask if padded else None, stop_after=resids[-1]
    )
    resid = torch.stack([cache[n] for n in resids], 1)  # (B, L+1, T, d_model)
    if translators is not None:
        for row in resid:  # (L+1, T, d_model) views, translated in place
            translators.translate_(row)
    if not keep:  # every probe's lens rows decoded together, in groups within the lens's memory bound
        positions = torch.tensor([r.frame.position for r in readings], device=resid.device)
        at = resid[torch.arange(B, device=resid.device), :, positions]  # (B, L+1, d_model) at read positions
        group = max(1, LAYER_GROUP_BYTES // (4 * at.shape[1] * model.d_vocab))
        lens_rows = torch.cat([model.decode_resid(at[s : s + group]).float() for s in range(0, B, group)])
        # (B, L, H, T): attention from each read position
        pattern_rows_all = torch.stack([cache[p][torch.arange(B), :, positions] for p in pats], 1)
    out = []
    for i, (reading, target) in enumerate(zip(readings, targets)):
        f = reading.frame
        pos, n = f.position, len(rows[i])
        # compare (keep) decodes every layer at every position once where the lens may hold those logits: the
        # lens and the summary below share them (larger vocabularies: the lens decodes on its first read).
        bound = min(LAYER_GROUP_BYTES, DEFERRED_LOGITS_BYTES)
        whole = keep and 4 * resid.shape[1] * n * model.d_vocab <= bound
        full = model.decode_resid(resid[i, :, :n]).float() if whole else None  # (L+1, n, V)
        if full is not None:
            layer_logits = full[:, pos]
        else:
            layer_logits = (
                lens_rows[i] if not keep else model.decode_resid(resid[i, :, pos]).float()
            )  # (L+1, V)
        probs = layer_logits[-1].softmax(-1)
        top = int(probs.argmax())
        if target is None:  # no answer given: the model's own top-1 is read
            reading = reading.answered((top,))
            target = reading.target
        sites = target.site_pos.tolist()
        row0 = not exact and not bool(target.site_row.any())  # every site in row 0: read from decoded layers
        if row0 and full is not None:
            reads = full[-1, sites][None]  # (1, sites, V), already decoded
        elif row0 and sites == [pos]:  # the read position alone
            reads = layer_logits[-1:][None]  # (1, 1, V)
        else:
            reads = model.decode_resid(resid[i, -1, target.site_pos]).float()[None]  # (1, sites, V)
        if keep:
            every_pattern = torch.stack([cache[p][i, :, : f.T, : f.T] for p in pats])  # (L, H, T, T)
            pattern_rows = every_pattern[:, :, pos]  # (L, H, T)
        else:
            pattern_rows = pattern_rows_all[i, :, :, : f.T]  # (L, H, T)
        past, future = f.side_shares(pattern_rows.float().cpu().numpy())  # numpy has no bfloat16
        rank = int(rank_of(layer_logits[-1], target.answer[0]))
        summary = {
            "answer_prob": float(target.answer_logprob(reads).exp()[0]),
            "answer_rank": float(rank),
            "top1_correct": float(rank == 0),
            "top1_prob": float(probs[top]),
            "decision_depth": float(decision_depth(layer_logits.argmax(-1))),
            "attn_past_mass": float(past.mean()),
            "attn_future_mass": float(future.mean()),
        }
        readout = Readout(reading, summary, token_str(model, top), float(target.value(reads)[0]))
        if keep:
            readout.resid, readout.logits = resid[i, :, :n], full
            readout.patterns = every_pattern.float()
        out.append(readout)
    return out


@dataclass
class Named:
    """What a view built on first read takes from its model: names, sizes and the tokenizer. A comparison kept
    unread (a notebook's ``Out[n]``) then holds no model: ``del model`` frees its memory."""

    name: str
    revision: str | None
    kind: str
    d_vocab: int
    tokenizer: Any

    @classmethod
    def of(cls, model: Model) -> Named:
        return cls(model.name, model.revision, model.kind, model.d_vocab, model.tokenizer)


def deferred_views(model: Model, frame: Frame, readout: Readout, lens: str) -> tuple[Any, Any]:
    """A run's attention and lens, built on first read (most callers read only the summary), through
    :class:`Named` rather than the model.

    Where every layer was decoded at every position and those logits are small, the lens is built from them.
    Otherwise (larger vocabularies) it decodes on first read, from the residual stream this pass kept, through
    the model's weakly held final stages: only while the model lives, with no hooks attached and with the
    decoding weights as they were at call time (:meth:`interp.Model.decode_version`), so that it is the lens
    the call would have built; else reading it is a ResultError that says so. With hooks attached at call time
    the lens is built at once.
    """
    patterns, resid, logits = readout.patterns, readout.resid, readout.logits
    answer = readout.reading.target.answer
    named = dataclasses.replace(frame, model=Named.of(model))
    attention = Later(lambda: attention_result(named.model, named, patterns), n_tokens=frame.T)
    resid = resid[:, : frame.T]  # (L+1, T, d_model): a causal answer's continuation is not kept
    small = logits is not None and logits.numel() * logits.element_size() <= DEFERRED_LOGITS_BYTES
    if small:

        def build_lens() -> LensResult:
            return lens_result(named.model, named, resid, answer, logits=logits, lens=lens)

    elif model.hooks_attached():  # a hook on the final stages would not be there on first read
        return attention, lens_result(model, frame, resid, answer, logits=logits, lens=lens)
    else:
        version, alive = model.decode_version(), weakref.ref(model)

        def build_lens() -> LensResult:
            m = alive()
            why = (
                "its model was deleted"
                if m is None
                else "hooks are attached to its model now"
                if m.hooks_attached()
                else "its model's final norm, unembedding or head changed"
                if m.decode_version() != version
                else None
            )
            if why is not None:
                raise ResultError(
                    f"this comparison's lens of {named.model.name} is decoded on first read, and {why} since "
                    "compare ran, so it would not be the lens of that call: read it outside any hooks block "
                    "and before editing or deleting the model, or run compare again"
                )
            with m.lock:
                return lens_result(m, named, resid, answer, lens=lens)

    return attention, Later(build_lens, n_tokens=frame.T, answer_ids=tuple(answer))


def attribute_reading(
    model: Model, readout: Readout, method: str, n_steps: int, tolerance: float | None
) -> Any:
    """The attribution of a readout's answer; its masses and completeness go into the summary."""
    reading = readout.reading
    attr = explain(model, reading.frame, reading.target, method, n_steps, tolerance, value=readout.value)
    readout.summary.update(
        attr_left_mass=attr.attr_left_mass,
        attr_right_mass=attr.attr_right_mass,
        completeness_error=attr.completeness_error,
    )
    return attr


@analysis(
    "compare", result=Comparison, needs={"cache", "unembed", "padded_batches"}, memory=None, magic="compare"
)
def compare(
    causal: Model,
    bidirectional: Model,
    probe: str,
    *,
    answer: str | None = None,
    method: str | None = "integrated_gradients",
    n_steps: int = 50,
    tolerance: float | None = 0.01,
    allow_unknown: bool = False,
    lens: str = "logit",
) -> Comparison:
    """Attention, logit lens, prediction and attribution of both models on ``probe`` (one ``___`` slot).

    Each model frames the probe its own way (:meth:`interp.Model.frame`) and is read in one forward pass.
    ``answer`` is the word expected at the slot, tokenized by each model in its own convention; an answer of
    several tokens is scored as its summed log-probability (its rank and the lens follow its first token).
    Without it, each model's own top-1 is explained. ``method`` is the attribution method (None: no
    attribution, a pure prediction/attention/lens reading); ``n_steps`` and ``tolerance`` go to integrated
    gradients (see :func:`interp.attribute`). ``lens``: ``"logit"`` or ``"tuned"`` (each model's tuned-lens
    translators, from :func:`interp.tuned_lens`), for the lens view and the decision depth.

    The summary is computed in the call; each run's attention and full lens are built when first read
    (:attr:`interp.results.ProbeRun.lens` says when a large vocabulary's lens can no longer be).
    """
    check_pair(causal, bidirectional)
    if answer is not None and not isinstance(answer, str):
        # a token id names different tokens in the two vocabularies: one id cannot be both models' answer
        raise InputError(
            f"compare's answer must be the word as text (e.g. answer='owl'), got {type(answer).__name__} "
            f"{answer!r}: each model tokenizes it in its own vocabulary"
        )
    if not isinstance(probe, str):
        many = checks.listed(probe) is not None
        raise InputError(
            f"compare takes one probe as text with one ___ slot (each model tokenizes it its own way), got "
            f"{type(probe).__name__}"
            + (": for many probes use interp.compare_suite(causal, bidirectional, probes)" if many else "")
        )
    translators = lens_translators(lens, causal, bidirectional)
    for model in (causal, bidirectional):
        model.check_length(probe, "the probe")
    split_probe(probe)
    if method is not None:
        method, n_steps, tolerance = check_method(method, n_steps, tolerance)
    runs, summaries = [], []
    for model in (causal, bidirectional):
        given = read(model, probe, answer=answer, allow_unknown=allow_unknown)
        (readout,) = read_probes(
            model, [given], keep=True, translators=translators[model.kind], exact=method is not None
        )
        attr = None if method is None else attribute_reading(model, readout, method, n_steps, tolerance)
        reading, frame = readout.reading, given.frame
        attention, lens_run = deferred_views(model, frame, readout, lens)
        runs.append(
            ProbeRun(
                model_name=model.name,
                revision=model.revision,
                kind=model.kind,
                probe=probe,
                text=frame.read_text,
                position=frame.position,
                word_index=frame.word_index,
                attention=attention,
                lens=lens_run,
                attribution=attr,
                top1=readout.top1,
                top1_prob=readout.summary["top1_prob"],
            )
        )
        summaries.append(readout.summary)
        if model is causal:
            causal_answer = ids_str(
                model, reading.target.answer
            )  # the lens's answer, without building the lens
    metrics = METRICS + (ATTRIBUTION_METRICS if method is not None else ())
    c, b = runs
    sc, sb = summaries
    return Comparison(
        model_name=f"{causal.name} | {bidirectional.name}",
        kind="comparison",
        revision=None
        if causal.revision is None and bidirectional.revision is None
        else f"{causal.revision or 'none'} | {bidirectional.revision or 'none'}",
        probe=probe,
        answer=causal_answer if answer is None else str(answer),
        words=tuple(probe.split()),
        causal=c,
        bidirectional=b,
        summary={k: {"causal": sc[k], "bidirectional": sb[k]} for k in metrics},
    )


__all__ = ["compare"]
