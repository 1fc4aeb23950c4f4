"""The logit lens: decode the residual stream after the embeddings and after every block.

Each residual is passed through the model's own final stages: final norm and unembedding for causal models,
the full masked-LM head (transform included) for bidirectional ones. Vocabulary-sized tensors exist only for a
chunk of positions at one layer at a time; everything kept is reduced (top-k, the answer, KL, top-1).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from interp.analysis.framing import answer_id, focus_positions, token_str
from interp.errors import InputError
from interp.models.handle import Model
from interp.results import LensResult


def resid_names(model: Model) -> list[str]:
    """The residual stream after the embeddings (row 0) and after each block (rows 1..n_layers)."""
    return ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(model.n_layers)]


@torch.no_grad()
def logit_lens(
    model: Model,
    text: str | torch.Tensor,
    *,
    position: int | None = None,
    answer: str | int | None = None,
    top_k: int = 5,
    chunk: int = 32,
) -> LensResult:
    """Decode every layer at every position; track ``answer`` (default: the final top-1 at the focus).

    ``focus`` is ``position`` if given, else the last position (causal) or the mask position(s)
    (bidirectional). Memory grows with ``chunk * d_vocab``, never with ``n_layers * T * d_vocab``.
    """
    if not isinstance(top_k, int) or top_k < 1:
        raise InputError(f"top_k must be a positive integer, got {top_k!r}")
    top_k = min(top_k, model.d_vocab)
    tokens = model.tokens_of(text)
    focus = focus_positions(model, tokens, position)
    names = resid_names(model)
    # Stop after the last block: the model's own logits are exactly the lens's last row, never needed whole.
    _, cache = model.run_with_cache(tokens, names=names, stop_after=names[-1])
    resid = torch.stack([cache.pop(n)[0] for n in names])  # (L+1, T, d_model)
    Lp1, T, _ = resid.shape
    aid = answer_id(model, answer, model.decode_resid(resid[-1, focus[0]]))

    top_ids = torch.zeros(Lp1, T, top_k, dtype=torch.long)
    top_probs = torch.zeros(Lp1, T, top_k)
    answer_prob = torch.zeros(Lp1, T)
    answer_rank = torch.zeros(Lp1, T, dtype=torch.long)
    kl = torch.zeros(Lp1, T)
    for start in range(0, T, chunk):
        sl = slice(start, min(T, start + chunk))
        final_p = F.softmax(model.decode_resid(resid[-1, sl]).float(), dim=-1)  # (c, V)
        neg_entropy = (final_p * final_p.clamp_min(1e-30).log()).sum(-1)  # (c,)
        for layer in range(Lp1):
            layer_logits = model.decode_resid(resid[layer, sl]).float()  # (c, V)
            answer_rank[layer, sl] = (layer_logits > layer_logits[:, aid : aid + 1]).sum(-1).cpu()
            logp = F.log_softmax(layer_logits, dim=-1)
            del layer_logits
            p, ids = logp.topk(top_k, dim=-1)
            top_ids[layer, sl], top_probs[layer, sl] = ids.cpu(), p.exp().cpu()
            answer_prob[layer, sl] = logp[:, aid].exp().cpu()
            # KL(final || layer) = sum p log p - sum p log q, one vocabulary-sized temporary per layer.
            kl[layer, sl] = (neg_entropy - (final_p * logp).sum(-1)).clamp_min(0).cpu()
            del logp
        del final_p
    top1 = top_ids[:, :, 0]  # (L+1, T)
    agrees = top1 == top1[-1]
    # First layer from which every later layer agrees with the final top-1.
    disagree_after = torch.flip(torch.cummax(torch.flip(~agrees, [0]).long(), dim=0).values, [0])
    decision_depth = disagree_after.sum(0)

    uniq, inverse = np.unique(top_ids.numpy(), return_inverse=True)
    top_tokens = np.array([token_str(model, int(i)) for i in uniq], dtype=np.str_)[inverse].reshape(
        top_ids.shape
    )
    return LensResult(
        model_name=model.name,
        kind=model.kind,
        tokens=model.to_str_tokens(tokens),
        focus=focus,
        top_ids=top_ids.numpy(),
        top_tokens=top_tokens,
        top_probs=top_probs.numpy(),
        answer=token_str(model, aid),
        answer_id=aid,
        answer_prob=answer_prob.numpy(),
        answer_rank=answer_rank.numpy(),
        kl=kl.numpy(),
        decision_depth=decision_depth.numpy(),
    )
