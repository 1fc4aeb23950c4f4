"""What an analysis scores at a frame: the answer (and the contrast), as token rows and the reads that score them.

One token each: the objective is ``logit(answer) [- logit(contrast)]`` at the read position, as it always was.
Several tokens on either side: the objective is the summed log-probability of the answer's tokens [minus the
contrast's]. A causal model reads them as a teacher-forced continuation after the slot (the row is the prefix
plus the answer's first tokens); a masked LM reads them at one mask per token, all masked at once. Where the
contrast needs other tokens in the row (a causal continuation, or a masked slot of another length), it gets a
second row; every analysis runs the rows as one batch.

A user objective (``objective=``, a function of the final residual stream ``(batch, T, d_model)`` to
``(batch,)``) replaces the answer: its target reads every position of the frame's one row, so the reads are the
final residual stream itself, and nothing is decoded. It is what a model without a language-model head can
still be asked about.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from interp.errors import InputError, InterpError, NonFiniteError, clip, echo
from interp.models.frame import Frame, ids_str, pad_id

if TYPE_CHECKING:
    from interp.models.handle import Model


@dataclass(frozen=True)
class Target:
    """The answer and contrast at one frame, and how to score them from a batch of rows."""

    answer: tuple[int, ...]
    """The answer's token ids (several for a multi-token answer)."""
    contrast: tuple[int, ...] | None
    """The contrast's token ids, if any."""
    rows: torch.Tensor
    """``(R, T_max)`` token ids, right-padded: row 0 reads the answer (and the contrast where it can)."""
    lengths: tuple[int, ...]
    """``(R,)`` real length of each row."""
    site_row: torch.Tensor
    """``(s,)`` the row of each decoded site (a (row, position) pair; answer and contrast share sites)."""
    site_pos: torch.Tensor
    """``(s,)`` the position of each site; site 0 is the read position of the answer's first token."""
    read_site: torch.Tensor
    """``(n,)`` the site of each read."""
    read_token: torch.Tensor
    """``(n,)`` the token scored by each read."""
    read_sign: torch.Tensor
    """``(n,)`` +1 for the answer's reads, -1 for the contrast's."""
    log_prob: bool
    """True: summed log-probabilities (a side has several tokens); False: logits (one token each)."""
    frame_length: int
    """T of the frame: positions from here on (a causal continuation) are the answer, not the input."""
    causal: bool
    """Whether the rows are a causal model's (rows share the prefix) or a masked LM's."""
    objective: Callable[[torch.Tensor], torch.Tensor] | None = None
    """A user objective of the final residual stream, scored instead of an answer (then every position of
    row 0 is a site, and there are no reads)."""

    @property
    def n_rows(self) -> int:
        return int(self.rows.shape[0])

    @property
    def attention_mask(self) -> torch.Tensor | None:
        """``(R, T_max)`` where rows differ in length, else None (no mask: the model's own unpadded pass)."""
        if len(set(self.lengths)) == 1:
            return None
        idx = torch.arange(self.rows.shape[1])
        return (idx[None, :] < torch.tensor(self.lengths)[:, None]).long()

    def _picked(self, scores: torch.Tensor) -> torch.Tensor:
        """``(B, n)``: each read's token from the scores at the sites ``(B, s, d_vocab)``."""
        site, token = self.read_site.to(scores.device), self.read_token.to(scores.device)
        return scores[:, site].gather(-1, token[None, :, None].expand(scores.shape[0], -1, 1))[..., 0]

    def value(self, logits: torch.Tensor) -> torch.Tensor:
        """The objective ``(B,)`` from the logits at the sites ``(B, s, d_vocab)``."""
        scores = logits.float().log_softmax(-1) if self.log_prob else logits.float()
        return (self._picked(scores) * self.read_sign.to(scores.device)).sum(-1)

    def score(self, model: Model, reads: torch.Tensor) -> torch.Tensor:
        """The objective ``(B,)`` from the final residual stream at the sites ``(B, s, d_model)``: the user
        objective of it, or the answer's value from its decoded logits."""
        if self.objective is not None:
            return objective_values(self.objective, reads)
        return self.value(model.decode_resid(reads))

    def answer_logprob(self, logits: torch.Tensor) -> torch.Tensor:
        """Summed log-probability ``(B,)`` of the answer's tokens (its probability is the exp of this)."""
        picked = self._picked(logits.float().log_softmax(-1))
        return picked[:, (self.read_sign > 0).to(picked.device)].sum(-1)


# ---- user objectives ------------------------------------------------------------------------------------------


def check_objective(objective: Any, **given: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """``objective`` if it can be one: a callable, given without an answer, contrast or read position (the
    keywords in ``given`` that are not None)."""
    if not callable(objective):
        raise InputError(
            f"objective must be a function of the final residual stream (batch, T, d_model) -> (batch,), got "
            f"{echo(objective)}; e.g. objective=interp.objectives.similarity(model, 'another text')"
        )
    clash = [k for k, v in given.items() if v is not None]
    if clash:
        raise InputError(
            f"pass objective= or {'/'.join(f'{k}=' for k in clash)}, not both: an objective is scored from the "
            "whole final residual stream and replaces the answer and its read position"
        )
    return objective


def objective_label(objective: Callable[..., Any]) -> str:
    """How a result names a user objective: its ``label``, else its function name."""
    label = getattr(objective, "label", None)
    if not isinstance(label, str) or not label:
        name = getattr(objective, "__name__", None)
        label = name if isinstance(name, str) and name != "<lambda>" else "objective"
    return clip(label)


def objective_values(objective: Callable[[torch.Tensor], torch.Tensor], resid: torch.Tensor) -> torch.Tensor:
    """``objective(resid)`` for the final residual stream ``(B, T, d_model)``, checked: ``(B,)`` finite floats.
    Whatever the function raises or returns otherwise is an InterpError that says what it must do."""
    name = objective_label(objective)
    try:
        out = objective(resid)
    except InterpError:
        raise
    except Exception as err:
        raise InputError(
            f"the objective {name!r} raised {type(err).__name__}: {clip(str(err))}. It is called with the final "
            "residual stream, a float tensor (batch, T, d_model), and must return one number per row, (batch,)"
        ) from err
    B = resid.shape[0]
    if not (isinstance(out, torch.Tensor) and out.dtype.is_floating_point and tuple(out.shape) == (B,)):
        got = (
            f"a {out.dtype} tensor of shape {tuple(out.shape)}"
            if isinstance(out, torch.Tensor)
            else echo(out)
        )
        raise InputError(
            f"the objective {name!r} returned {got}: it must return a float tensor of shape ({B},), one number "
            f"per row of the final residual stream it is given, shape {tuple(resid.shape)}"
        )
    if not bool(torch.isfinite(out.detach()).all()):
        raise NonFiniteError(
            f"the objective {name!r} returned NaN or infinite values: make it finite for every input (e.g. add "
            "a small epsilon where it divides by a norm)"
        )
    return out.float()


def of_objective(model: Model, frame: Frame, objective: Callable[[torch.Tensor], torch.Tensor]) -> Target:
    """The target of a user objective on ``frame``: one row, the frame's tokens, with a site at every position,
    so that its reads are the final residual stream itself ``(B, T, d_model)``."""
    T = frame.T
    none = torch.zeros(0, dtype=torch.long)
    return Target(
        answer=(),
        contrast=None,
        rows=frame.tokens,
        lengths=(T,),
        site_row=torch.zeros(T, dtype=torch.long),
        site_pos=torch.arange(T),
        read_site=none,
        read_token=none,
        read_sign=torch.zeros(0),
        log_prob=False,
        frame_length=T,
        causal=model.kind == "causal",
        objective=objective,
    )


def make(
    model: Model, frame: Frame, answer: tuple[int, ...], contrast: tuple[int, ...] | None = None
) -> Target:
    """The rows and reads that score ``answer`` [- ``contrast``] at ``frame``."""
    if frame.position is None:
        raise InputError("this text has no read position: write ___ where the answer goes")
    if contrast is not None and tuple(contrast) == tuple(answer):
        raise InputError(
            f"answer and contrast are the same ({ids_str(model, answer)!r}): pass a different contrast"
        )
    base = frame.tokens[0].tolist()
    T = len(base)
    rows: list[list[int]] = []
    reads: list[tuple[int, int, int, int]] = []  # (row, position, token, sign)
    sides = [(answer, 1)] + ([(contrast, -1)] if contrast is not None else [])
    if model.kind == "causal":
        if (len(answer) > 1 or (contrast is not None and len(contrast) > 1)) and frame.position != T - 1:
            raise InputError(
                "an answer of several tokens is read as the continuation after the last token: drop position="
            )
        for ids, sign in sides:
            # The row of an earlier side serves if it already holds this side's first tokens.
            row = next(
                (r for r, toks in enumerate(rows) if toks[T : T + len(ids) - 1] == list(ids[:-1])), None
            )
            if row is None:
                rows.append(base + list(ids[:-1]))
                row = len(rows) - 1
            reads += [(row, frame.position + j, t, sign) for j, t in enumerate(ids)]
    elif not frame.at_slot:
        # A masked LM read at a mask written in the text, or at a chosen position: one token each.
        if len(answer) > 1 or (contrast is not None and len(contrast) > 1):
            raise InputError(
                "an answer of several tokens needs a probe with a ___ slot (it becomes one mask per token), "
                "read at the slot"
            )
        rows.append(base)
        reads += [(0, frame.position, ids[0], sign) for ids, sign in sides]
    else:
        n, slot = frame.n_slot, frame.slot
        if n != len(answer):
            raise InputError(
                f"the frame has {n} mask(s) but the answer has {len(answer)} tokens: frame it with n_slot="
                f"{len(answer)}"
            )
        for ids, sign in sides:
            row = next((r for r, toks in enumerate(rows) if _n_masks(model, toks, slot) == len(ids)), None)
            if row is None:
                rows.append(base[:slot] + [model.mask_token_id] * len(ids) + base[slot + n :])
                row = len(rows) - 1
            reads += [(row, slot + j, t, sign) for j, t in enumerate(ids)]
    lengths = tuple(len(r) for r in rows)
    padded = torch.full((len(rows), max(lengths)), pad_id(model), dtype=torch.long)
    for i, r in enumerate(rows):
        padded[i, : len(r)] = torch.tensor(r)
    sites = list(dict.fromkeys((row, pos) for row, pos, _, _ in reads))  # answer's first read first
    log_prob = len(answer) > 1 or (contrast is not None and len(contrast) > 1)
    return Target(
        answer=tuple(answer),
        contrast=None if contrast is None else tuple(contrast),
        rows=padded.to(frame.tokens.device),
        lengths=lengths,
        site_row=torch.tensor([r for r, _ in sites]),
        site_pos=torch.tensor([p for _, p in sites]),
        read_site=torch.tensor([sites.index((r, p)) for r, p, _, _ in reads]),
        read_token=torch.tensor([t for _, _, t, _ in reads]),
        read_sign=torch.tensor([float(sign) for *_, sign in reads]),
        log_prob=log_prob,
        frame_length=T,
        causal=model.kind == "causal",
    )


def _n_masks(model: Model, toks: list[int], slot: int) -> int:
    n = 0
    while slot + n < len(toks) and toks[slot + n] == model.mask_token_id:
        n += 1
    return n


def batch_rows(target: Target, repeat: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The rows repeated ``repeat`` times, ``(repeat * R, T_max)`` (batch b, row r at ``b * R + r``), and
    their attention mask (None when every row has the same length)."""
    rows = target.rows.repeat(repeat, 1)
    mask = target.attention_mask
    return rows, None if mask is None else mask.repeat(repeat, 1).to(rows.device)


def reads_of(target: Target, resid: torch.Tensor) -> torch.Tensor:
    """The residuals at the sites ``(B, s, d_model)`` from ``(B * R, T_max, d_model)``."""
    R = target.n_rows
    B = resid.shape[0] // R
    resid = resid.reshape(B, R, *resid.shape[1:])
    return resid[:, target.site_row.to(resid.device), target.site_pos.to(resid.device)]


def read_resid(
    model: Model,
    target: Target,
    repeat: int = 1,
    hooks: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """The final residual stream at the sites ``(repeat, s, d_model)`` of ``repeat`` copies of the rows (hooks
    attached by the caller or given here fire)."""
    rows, mask = batch_rows(target, repeat)
    if hooks:
        with model.hooks(hooks):
            resid = model.final_resid(rows, attention_mask=mask)
    else:
        resid = model.final_resid(rows, attention_mask=mask)
    return reads_of(target, resid)


def read_logits(
    model: Model,
    target: Target,
    repeat: int = 1,
    hooks: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """Logits at the sites ``(repeat, s, d_vocab)`` of ``repeat`` copies of the rows (hooks attached by the
    caller or given here fire); only the read positions are decoded."""
    return model.decode_resid(read_resid(model, target, repeat, hooks))
