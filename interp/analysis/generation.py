"""Generation, step by step: causal models left to right, masked (diffusion) models by unmasking.

A causal model appends its greedy next token at every step and never stops early (an end-of-text token is a
token like any other). A masked LM gets masks where the text is to be written (appended to the prompt, or in
place of each ``___`` slot) and commits some of them at every step, in an order: the most confident first,
seeded random positions, or left to right; the token committed at a position is its top-1 there. A masked LM's
special tokens ([CLS], [PAD], the mask itself) are never committed: its head was never trained to write them
at a word's place, and a committed mask would leave the position undecided.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis.registry import analysis
from interp.errors import InputError
from interp.models import hooks as _hooks
from interp.models.frame import SLOT, check_known, check_slots, masked_text
from interp.models.handle import Model
from interp.models.writing import token_str, unknown_id
from interp.results.generation import ORDERS, GenerationResult


def generator_of(model: Model) -> str:
    """``model.generator``: ``"causal"``, ``"masked"`` or ``"diffusion"`` (decided in the model layer)."""
    return model.generator


@analysis("generate", result=GenerationResult, needs=(), memory=_memory.generate_memory, magic="generate")
@torch.no_grad()
def generate(
    model: Model,
    prompt: str,
    n_tokens: int,
    *,
    steps: int | None = None,
    order: str = "confidence",
    seed: int = 0,
    lens: bool = False,
    top_k: int = 5,
    allow_unknown: bool = False,
    check_memory: bool = True,
) -> GenerationResult:
    """Generate ``n_tokens`` tokens after ``prompt`` (a masked LM: ``n_tokens`` per ``___`` slot if it has any).

    The places a masked LM writes are the slots (or the end of the prompt), never a mask token written into the
    prompt itself: that is refused, so that ``n_tokens`` is exactly what is generated. A word the vocabulary
    does not know is an InputError unless ``allow_unknown=True`` (a bool); it then reads as the unknown token,
    which ``.text`` keeps visible (e.g. ``[UNK]``) rather than dropping it with the special tokens.

    Causal models: greedy, one token per step (``steps`` must be None or ``n_tokens``; ``order`` is recorded as
    ``"left_to_right"``). Masked LMs: the masks are unmasked over ``steps`` steps (default: one per step; at most
    one step per mask), as evenly as possible, in ``order`` "confidence" (highest top-1 probability first),
    "random" (positions drawn with ``seed``) or "left_to_right". ``lens=True`` also keeps the logit lens's
    ``top_k`` at every position each step reads (one layer decoded at a time, never a vocabulary-sized array
    per step). Past the free memory of the model's device it is refused before it starts, unless
    ``check_memory=False``.
    """
    checks.model(model)
    model.require_lm_head()
    n_tokens = checks.integer("n_tokens", n_tokens, low=1, high=model.n_ctx)
    order = checks.choice("order", order, ORDERS)
    seed = checks.integer("seed", seed, low=0)
    lens = checks.flag("lens", lens)
    allow_unknown = checks.flag("allow_unknown", allow_unknown)
    top_k = checks.integer("top_k", top_k, low=1, high=model.d_vocab)
    if not isinstance(prompt, str):
        raise InputError(f"the prompt must be a string, got {type(prompt).__name__}")
    causal = model.generator == "causal"  # left to right; otherwise by unmasking
    tokens, positions = (
        _causal_start(model, prompt, n_tokens) if causal else _masked_start(model, prompt, n_tokens)
    )
    if not allow_unknown:
        check_known(model, prompt.replace(SLOT, " "), tokens[:, : positions[0]] if causal else tokens)
    if tokens.shape[1] + (n_tokens if causal else 0) > model.n_ctx:
        raise InputError(
            f"the prompt and {n_tokens} new tokens need {tokens.shape[1] + n_tokens} positions; {model.name} has "
            f"{model.n_ctx}: shorten the prompt or generate fewer tokens"
        )
    M = len(positions)
    if causal and steps not in (None, n_tokens):
        raise InputError(
            f"{model.name} is causal: it writes one token per step, so steps is {n_tokens} (or None)"
        )
    steps = M if steps is None else checks.integer("steps", steps, low=1, high=M)
    T = tokens.shape[1] + (n_tokens if causal else 0)
    settings = {"new": M, "steps": steps, "read": 1 if causal else M, "lens": lens, "top_k": top_k}
    _memory.require(model, "generate", T, enabled=check_memory, **settings)
    run = _Run(model, tokens, positions, steps, lens, top_k)
    if causal:
        run.causal()
    else:
        run.masked(order, np.random.default_rng(seed))
    final = run.rows[-1]
    return GenerationResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        prompt=prompt,
        generator=model.generator,
        order="left_to_right" if causal else order,
        seed=seed,
        undecided=run.undecided,
        tokens=np.stack(run.rows),
        str_tokens=[token_str(model, i) for i in final],
        commit_step=run.commit_step,
        commit_prob=run.commit_prob,
        text=_text(model, final),
        **run.lens_fields(),
    )


def _causal_start(model: Model, prompt: str, n: int) -> tuple[torch.Tensor, list[int]]:
    """The prompt's tokens (a probe: the words before its slot) and the positions to write."""
    slots = check_slots(prompt)
    if slots > 1:
        raise InputError(f"{model.name} is causal and continues one prefix: write at most one {SLOT} slot")
    tokens = model.frame(prompt).tokens if slots else model.to_tokens(prompt)
    T = tokens.shape[1]
    return tokens, list(range(T, T + n))


def _masked_start(model: Model, prompt: str, n: int) -> tuple[torch.Tensor, list[int]]:
    """The prompt with ``n`` masks appended (or in place of each slot) and the mask positions."""
    mask = model.tokenizer.mask_token
    if mask is None:
        raise InputError(f"{model.name} has no mask token, so it cannot generate by unmasking")
    parts = prompt.split(SLOT) if check_slots(prompt) else [prompt.rstrip() + " ", ""]
    text = parts[0]
    for after in parts[1:]:
        text = masked_text(model, text, mask * n, after)
    tokens = model.to_tokens(text)
    positions = (tokens[0] == model.mask_token_id).nonzero()[:, 0].tolist()
    written = len(positions) - n * (len(parts) - 1)
    if written:  # masks the user typed would be filled too, and n_tokens would not be what is generated
        raise InputError(
            f"the prompt holds {written} {mask} token(s) of its own: mark each place to fill with {SLOT} instead "
            f"({model.name} writes n_tokens={n} tokens per {SLOT} slot, or after the prompt if it has none)"
        )
    return tokens, positions


def _text(model: Model, ids: np.ndarray) -> str:
    """The generated row as text: special tokens dropped, the unknown token kept (a word the model could not
    read stays visible)."""
    unk = unknown_id(model)
    skip = model.special_ids | {model.mask_token_id}
    kept = [int(i) for i in ids if int(i) == unk or int(i) not in skip]
    return model.tokenizer.decode(kept, skip_special_tokens=False).strip()


class _Run:
    """The state of one generation: the rows so far, commit steps and probabilities, the lens kept."""

    def __init__(
        self, model: Model, tokens: torch.Tensor, positions: list[int], steps: int, lens: bool, k: int
    ):
        self.model, self.positions, self.steps, self.k = model, positions, steps, k
        causal = model.generator == "causal"
        self.undecided = -1 if causal else int(model.mask_token_id)
        T = tokens.shape[1] + (len(positions) if causal else 0)
        first = np.full(T, self.undecided, dtype=np.int64)
        first[: tokens.shape[1]] = tokens[0].cpu().numpy()
        self.ids = tokens.to(model.device)  # (1, T so far)
        self.rows = [first]
        self.commit_step = np.full(T, -1, dtype=np.int64)
        self.commit_prob = np.full(T, np.nan)
        self.gen_index = {p: g for g, p in enumerate(positions)}
        self.lens = None
        if lens:
            shape = (steps, model.n_layers + 1, len(positions), k)
            self.lens = (np.full(shape, -1, np.int64), np.full(shape, np.nan, np.float32))

    def _logits(self, step: int, read: list[int]) -> torch.Tensor:
        """Logits ``(len(read), d_vocab)`` at ``read``; with the lens, also its top-k there at every layer."""
        if self.lens is None:
            return self.model.forward(self.ids)[0, read].float()
        names = _hooks.resid_names(self.model)
        logits, cache = self.model.run_with_cache(self.ids, names=names)
        ids, probs = self.lens
        causal = self.model.generator == "causal"  # a causal read at p predicts position p + 1
        g = [self.gen_index[p + 1] if causal else self.gen_index[p] for p in read]
        for layer, name in enumerate(names):  # one layer at a time: (len(read), d_vocab) at most
            logp = F.log_softmax(self.model.decode_resid(cache.pop(name)[0, read]).float(), dim=-1)
            p, top = logp.topk(self.k, dim=-1)
            ids[step - 1, layer, g], probs[step - 1, layer, g] = top.cpu().numpy(), p.exp().cpu().numpy()
        return logits[0, read].float()

    def causal(self) -> None:
        for step in range(1, self.steps + 1):
            probs = F.softmax(self._logits(step, [self.ids.shape[1] - 1])[0], dim=-1)
            token = int(probs.argmax())
            pos = self.ids.shape[1]
            self.ids = torch.cat([self.ids, torch.tensor([[token]], device=self.ids.device)], dim=1)
            self._commit(step, [pos], [token], [float(probs[token])])

    def masked(self, order: str, rng: np.random.Generator) -> None:
        M = len(self.positions)
        counts = [M // self.steps + (s < M % self.steps) for s in range(self.steps)]
        suppress = sorted(self.model.special_ids | {self.undecided})
        for step, k in enumerate(counts, start=1):
            open_ = [p for p in self.positions if self.commit_step[p] < 0]
            logits = self._logits(step, open_)
            logits[:, suppress] = -torch.inf
            prob, token = F.softmax(logits, dim=-1).max(-1)  # (len(open_),)
            if order == "confidence":
                pick = torch.argsort(-prob, stable=True)[:k].tolist()
            elif order == "random":
                pick = sorted(rng.choice(len(open_), size=k, replace=False).tolist())
            else:
                pick = list(range(k))
            chosen = [open_[i] for i in pick]
            self.ids[0, chosen] = token[pick].to(self.ids.device)
            self._commit(step, chosen, token[pick].tolist(), prob[pick].tolist())

    def _commit(self, step: int, positions: list[int], tokens: list[int], probs: list[float]) -> None:
        row = self.rows[-1].copy()
        row[positions] = tokens
        self.rows.append(row)
        self.commit_step[positions] = step
        self.commit_prob[positions] = probs

    def lens_fields(self) -> dict:
        if self.lens is None:
            return {}
        ids, probs = self.lens
        strs = {int(i): token_str(self.model, int(i)) for i in np.unique(ids) if i >= 0}
        strs[-1] = ""
        tokens = np.vectorize(strs.__getitem__, otypes=[np.str_])(ids) if ids.size else ids.astype(np.str_)
        return {"lens_top_ids": ids, "lens_top_probs": probs, "lens_top_tokens": tokens}


__all__ = ["generate"]
