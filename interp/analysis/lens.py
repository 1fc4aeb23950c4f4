"""The logit lens: decode the residual stream after the embeddings and after every block.

Each residual is passed through the model's own final stages: final norm and unembedding for causal models,
the full masked-LM head (transform included) for bidirectional ones. Vocabulary-sized tensors exist only for a
chunk of positions at one layer at a time; everything kept is reduced (top-k, the answer, KL, top-1).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis.batches import BATCH_SIZE, check_texts, many, per_text, run_many
from interp.analysis.registry import analysis
from interp.analysis.tuned import translators_for
from interp.models import hooks as _hooks
from interp.models.frame import Frame, ids_str, token_str
from interp.models.handle import Model
from interp.models.reading import read
from interp.results import LensResult

LAYER_GROUP_BYTES = 8 * 2**20
"""The most bytes of float32 logits one decode of the lens makes (per chunk of positions)."""


def rank_of(logits: torch.Tensor, token: int) -> torch.Tensor:
    """The rank ``(...)`` of ``token`` in logits ``(..., d_vocab)``: how many tokens score strictly higher (0:
    it is the top-1). The one definition of an answer's rank."""
    return (logits > logits[..., token : token + 1]).sum(-1)


def decision_depth(top1: torch.Tensor) -> torch.Tensor:
    """The decision depth ``(...)`` from the top-1 ids of every lens row ``(n_layers + 1, ...)``, each the
    ``argmax`` of that row's logits: the first row from which every later row agrees with the last (the model's
    own top-1). The one definition."""
    agrees = top1 == top1[-1]
    disagree_after = torch.flip(torch.cummax(torch.flip(~agrees, [0]).long(), dim=0).values, [0])
    return disagree_after.sum(0)


@analysis(
    "logit_lens", result=LensResult, needs={"cache", "unembed"}, memory=_memory.lens_memory, magic="lens"
)
@torch.no_grad()
def logit_lens(
    model: Model,
    text: str | torch.Tensor | list[str],
    *,
    position: int | None = None,
    answer: str | int | None = None,
    top_k: int = 5,
    chunk: int = 32,
    allow_unknown: bool = False,
    lens: str = "logit",
    check_memory: bool = True,
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
) -> LensResult | list[LensResult]:
    """Decode every layer at every position; track ``answer`` (default: the final top-1 at the read position).

    ``text`` is framed by :meth:`interp.Model.frame` (a probe with one ``___`` slot, plain text or tokens); the
    focus is the read position, or every slot mask of a masked LM. An answer of several tokens is tracked by
    its first token (a masked LM's slot gets one mask per answer token). Memory grows with
    ``chunk * d_vocab``, never with ``n_layers * T * d_vocab``. ``top_k``: an integer from 1 to ``d_vocab``;
    ``chunk``: a positive integer (positions decoded at once; more than ``T`` acts as ``T``). ``lens``:
    ``"logit"`` decodes each layer as it is; ``"tuned"`` first passes it through the layer's translator trained
    by :func:`interp.tuned_lens` for these weights. Past the free memory of the model's device it is refused
    before it starts, unless ``check_memory=False``.

    A list of texts gives a list of results, each equal to its own call: ``answer`` and ``position`` are one
    value for all or a list with one per text; the texts run ``batch_size`` at a time in right-padded batches
    with an attention mask (fewer where the free memory says so), under one progress bar (``progress=False``:
    none).
    """
    checks.model(model)
    model.require_lm_head()  # before the tuned lens's translators, which a model without a head never has
    lens = checks.choice("lens", lens, ("logit", "tuned"))
    translators = translators_for(model) if lens == "tuned" else None
    top_k = checks.integer("top_k", top_k, low=1, high=model.d_vocab)
    chunk = checks.integer("chunk", chunk, low=1)
    texts = many(text, batch_size=batch_size, progress=progress)
    if texts is not None:
        check_texts(texts)
        n, settings = len(texts), {"chunk": chunk, "top_k": top_k, "lens": lens}
        readings = [
            read(model, t, answer=a, position=p, allow_unknown=allow_unknown)
            for t, a, p in zip(texts, per_text("answer", answer, n), per_text("position", position, n))
        ]
        names = _hooks.resid_names(model)

        def run(idx: list[int], tokens: torch.Tensor, mask: torch.Tensor | None) -> list[LensResult]:
            _, cache = model.run_with_cache(tokens, names=names, attention_mask=mask, stop_after=names[-1])
            resid = torch.stack([cache.pop(n) for n in names], 1)  # (B, L+1, T, d_model)
            out = []
            for b, i in enumerate(idx):
                frame = readings[i].frame
                row = resid[b, :, : frame.T]  # (L+1, T_i, d_model): the padding left out
                if translators is not None:
                    translators.translate_(row)
                out.append(
                    lens_result(model, frame, row, readings[i].answer, top_k=top_k, chunk=chunk, lens=lens)
                )
            return out

        rows = [r.frame.tokens[0] for r in readings]
        return run_many(
            model,
            "logit_lens",
            rows,
            run,
            batch_size=batch_size,
            progress=progress,
            check_memory=check_memory,
            **settings,
        )
    reading = read(model, text, answer=answer, position=position, allow_unknown=allow_unknown)
    frame, ids = reading.frame, reading.answer
    _memory.require(model, "logit_lens", frame.T, enabled=check_memory, chunk=chunk, top_k=top_k, lens=lens)
    names = _hooks.resid_names(model)
    # Stop after the last block: the model's own logits are exactly the lens's last row, never needed whole.
    _, cache = model.run_with_cache(frame.tokens, names=names, stop_after=names[-1])
    resid = torch.stack([cache.pop(n)[0] for n in names])  # (L+1, T, d_model)
    if translators is not None:
        translators.translate_(resid)
    return lens_result(model, frame, resid, ids, top_k=top_k, chunk=chunk, lens=lens)


def focus_of(frame: Frame) -> tuple[int, ...]:
    """Positions the lens focuses on: every slot mask of a masked probe, else the read position."""
    if frame.at_slot:
        return tuple(frame.slot_positions)
    return (frame.position,)


@torch.no_grad()
def lens_result(
    model: Model,
    frame: Frame,
    resid: torch.Tensor,
    answer: tuple[int, ...] | None,
    *,
    top_k: int = 5,
    chunk: int = 32,
    logits: torch.Tensor | None = None,
    lens: str = "logit",
) -> LensResult:
    """The lens of ``frame`` from its residual stream ``(n_layers + 1, T, d_model)`` (positions past the frame,
    a causal answer's continuation, are left out). ``answer`` None: the final top-1 at the read position.

    ``logits`` ``(n_layers + 1, >= T, d_vocab)`` (float32): every layer already decoded at every position
    (compare's single pass), reused instead of decoding again. ``lens`` names how ``resid`` was read."""
    top_k = min(top_k, model.d_vocab)
    T = frame.T
    resid = resid[:, :T]
    Lp1 = resid.shape[0]
    if logits is not None:
        logits = logits[:, :T]
    if answer is None:
        final = (
            logits[-1, frame.position]
            if logits is not None
            else model.decode_resid(resid[-1, frame.position])
        )
        answer = (int(final.argmax()),)
    aid = answer[0]
    top_ids = torch.zeros(Lp1, T, top_k, dtype=torch.long)
    top_probs = torch.zeros(Lp1, T, top_k)
    answer_prob = torch.zeros(Lp1, T)
    answer_rank = torch.zeros(Lp1, T, dtype=torch.long)
    top1 = torch.zeros(Lp1, T, dtype=torch.long)  # argmax of each row, for the decision depth
    kl = torch.zeros(Lp1, T)
    # Layers are decoded together while a group's logits stay under LAYER_GROUP_BYTES (tiny vocabularies: all
    # at once; gpt2-sized ones: one layer at a time, so memory never grows with n_layers * chunk * d_vocab).
    group = max(1, LAYER_GROUP_BYTES // (4 * chunk * model.d_vocab))
    if logits is not None:
        chunk, group = max(T, 1), Lp1  # already decoded: one chunk holding every layer
    for start in range(0, T, chunk):
        sl = slice(start, min(T, start + chunk))
        # One group holding every layer (small vocabularies) is decoded once; its last row is the final one.
        if logits is not None:
            every = logits[:, sl]
        else:
            every = model.decode_resid(resid[:, sl]).float() if group >= Lp1 else None  # (L+1, c, V)
        final = every[-1] if every is not None else model.decode_resid(resid[-1, sl]).float()
        final_p = F.softmax(final, dim=-1)  # (c, V)
        neg_entropy = (final_p * final_p.clamp_min(1e-30).log()).sum(-1)  # (c,)
        for first in range(0, Lp1, group):
            ls = slice(first, min(Lp1, first + group))
            layer_logits = every if every is not None else model.decode_resid(resid[ls, sl]).float()
            every = final = None  # (g, c, V) logits are held once
            answer_rank[ls, sl] = rank_of(layer_logits, aid).cpu()
            top1[ls, sl] = layer_logits.argmax(-1).cpu()
            logp = F.log_softmax(layer_logits, dim=-1)
            del layer_logits
            p, ids = logp.topk(top_k, dim=-1)
            top_ids[ls, sl], top_probs[ls, sl] = ids.cpu(), p.exp().cpu()
            answer_prob[ls, sl] = logp[..., aid].exp().cpu()
            # KL(final || layer) = sum p log p - sum p log q, one vocabulary-sized temporary per group.
            kl[ls, sl] = (neg_entropy - (final_p * logp).sum(-1)).clamp_min(0).cpu()
            del logp
        del final_p
    uniq, inverse = np.unique(top_ids.numpy(), return_inverse=True)
    top_tokens = np.array([token_str(model, int(i)) for i in uniq], dtype=np.str_)[inverse].reshape(
        top_ids.shape
    )
    return LensResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=frame.str_tokens,
        focus=focus_of(frame),
        top_ids=top_ids.numpy(),
        top_tokens=top_tokens,
        top_probs=top_probs.numpy(),
        answer=ids_str(model, answer),
        answer_ids=answer,
        answer_prob=answer_prob.numpy(),
        answer_rank=answer_rank.numpy(),
        kl=kl.numpy(),
        decision_depth=decision_depth(top1).numpy(),
        position=frame.position,
        lens=lens,
    )


__all__ = ["logit_lens"]
