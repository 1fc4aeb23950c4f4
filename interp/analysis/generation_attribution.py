"""A generation explained token by token: why each generated token, given what the model saw when it wrote it.

The generation is :func:`interp.generate`'s own trajectory (same ``steps``, ``order`` and ``seed``); each
generated token is then attributed, with captum, over the token embeddings of the input it was written from:

- causal: the token at position ``p`` is read at ``p - 1`` from the prompt and the tokens generated before it
  (what inseq's ``model.attribute`` does for a decoder-only model); later positions are not inputs (NaN);
- masked (diffusion): the token committed at position ``p`` in step ``s`` is read at ``p`` from the row the
  model saw at step ``s``: the prompt, the tokens committed before ``s``, and every still-masked position as an
  input of its own (a mask is a token like any other: the baseline replaces it too).

The attributed value is the token's probability there (inseq's default) or its log-probability, computed as
generation computed it (a masked LM's special tokens are excluded from its softmax, as they are from what it
may commit), so at the input it equals the generation's ``commit_prob``. Special tokens (BOS, [CLS], [SEP])
keep their embedding in the baseline and score 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis.generation import generate
from interp.analysis.registry import Magic, analysis
from interp.errors import InputError
from interp.models import hooks as _hooks
from interp.models.frame import content_mask
from interp.models.handle import Model
from interp.models.tokens import pad_id
from interp.progress import bar as progress_bar
from interp.results.generation_attribution import (
    BASELINES,
    METHODS,
    OBJECTIVES,
    GenerationAttributionResult,
)

INTEGRALS = ("riemann_middle", "gausslegendre", "riemann_left", "riemann_right", "riemann_trapezoid")
"""captum's quadrature rules for integrated gradients' path integral (``integral=``)."""


@_memory.advice("shorten the prompt, generate fewer tokens, or pass a smaller n_steps")
def generation_attribution_memory(
    model: Model,
    T: int,
    rows: int = 1,
    *,
    new: int = 1,
    steps: int = 1,
    method: str = "integrated_gradients",
    n_steps: int = 50,
    **_: object,
) -> int:
    """The larger of the generation's peak and one token's attribution over ``T`` tokens (tokens are attributed
    one after the other, so their peaks never add up)."""
    read = 1 if model.generator == "causal" else new
    gen = _memory.generate_memory(model, T, new=new, steps=steps, read=read)
    attribution = _memory.attribution_memory(model, T, 1, method=method, n_steps=n_steps, tolerance=None)
    return int(max(gen, attribution))


@analysis(
    "attribute_generation",
    result=GenerationAttributionResult,
    needs={"gradients"},
    memory=generation_attribution_memory,
    magic=Magic(
        "attribute_generation",
        "generate N tokens and attribute each over what the model saw when it wrote it",
        positional=("var", 'prompt:"prompt"'),
        options={
            "n": {"type": int, "default": 4, "dest": "n_tokens"},
            "steps": {"type": int},
            "order": {},
            "seed": {"type": int},
            "method": {},
            "objective": {"metavar": "prob|logprob"},
            "n_steps": {"type": int},
        },
        fixed={"progress": False},
    ),
)
def attribute_generation(
    model: Model,
    prompt: str,
    n_tokens: int,
    *,
    method: str = "integrated_gradients",
    steps: int | None = None,
    order: str = "confidence",
    seed: int = 0,
    objective: str = "prob",
    baseline: str = "pad",
    n_steps: int = 50,
    integral: str = "riemann_middle",
    allow_unknown: bool = False,
    check_memory: bool = True,
    progress: bool = True,
) -> GenerationAttributionResult:
    """Generate ``n_tokens`` tokens as :func:`interp.generate` does, then attribute each generated token over
    the inputs the model read when it wrote it.

    ``steps``, ``order`` and ``seed`` mean what they mean in :func:`interp.generate` (a causal model writes one
    token per step, left to right). Causal: each token over the prompt and the tokens generated before it (as
    inseq's ``model.attribute`` on a decoder-only model). Masked (diffusion) LMs: each token at the step that
    committed it, over the row the model saw then: prompt, earlier commits and the still-masked positions, each
    an input of its own. ``objective``: ``"prob"`` (the token's probability where it was read, inseq's default)
    or ``"logprob"``. ``method``: ``"integrated_gradients"`` (``n_steps`` path steps with captum's ``integral``
    rule, exactly as many as asked: the result reports each token's completeness), ``"input_x_gradient"`` or
    ``"saliency"``. ``baseline``: what integrated gradients starts from at every content token and mask:
    ``"pad"`` (the pad token's embedding, as :func:`interp.attribute`), ``"unk"`` (the unknown token's, inseq's
    default), ``"mask"`` (the mask token's) or ``"zero"``; special tokens keep their own embedding. One progress
    bar runs over the generated tokens (``progress=False``: none). Past the free memory of the model's device it
    is refused before it starts, unless ``check_memory=False``.
    """
    checks.model(model)
    model.require_lm_head()
    method = checks.choice("method", method, METHODS)
    objective = checks.choice("objective", objective, OBJECTIVES)
    baseline = checks.choice("baseline", baseline, BASELINES)
    n_steps = checks.integer("n_steps", n_steps, low=2, high=1000)
    integral = checks.choice("integral", integral, INTEGRALS)
    checks.flag("progress", progress)
    base_id = _baseline_id(model, baseline)
    if not isinstance(prompt, str):
        raise InputError(f"the prompt must be a string, got {type(prompt).__name__}")
    # Before any forward pass: the generation's shape (as generate reads the prompt) and the attribution's.
    keywords = {"n_tokens": n_tokens, "steps": steps, "method": method, "n_steps": n_steps}
    T, _, settings = _memory._SHAPES["attribute_generation"](model, prompt, keywords)
    _memory.require(model, "attribute_generation", T, enabled=check_memory, **settings)
    gen = generate(
        model,
        prompt,
        n_tokens,
        steps=steps,
        order=order,
        seed=seed,
        allow_unknown=allow_unknown,
        check_memory=check_memory,
    )
    T, G = gen.tokens.shape[1], len(gen.generated)
    causal = model.generator == "causal"
    suppress = [] if causal else sorted(model.special_ids | {int(model.mask_token_id)})
    scores = np.full((G, T), np.nan)
    values, base_values, deltas = np.zeros(G), np.full(G, np.nan), np.full(G, np.nan)
    for g, p in enumerate(progress_bar(gen.generated, desc="attribute_generation", show=progress)):
        s = int(gen.commit_step[p])
        # causal: the prefix before p, read at p - 1; masked: the whole row before step s, read at p
        row = gen.tokens[-1, :p] if causal else gen.tokens[s - 1]
        read = p - 1 if causal else p
        out = _attribute_one(
            model, row, read, int(gen.tokens[-1, p]), suppress, objective, method, base_id, n_steps, integral
        )
        scores[g, : len(row)] = out["scores"]
        values[g], base_values[g], deltas[g] = out["value"], out["base_value"], out["delta"]
    return GenerationAttributionResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        generation=gen,
        method=method,
        objective=objective,
        baseline=baseline if method == "integrated_gradients" else "none",
        scores=scores,
        values=values,
        baseline_values=base_values,
        deltas=deltas,
        settings={"n_steps": n_steps, "integral": integral} if method == "integrated_gradients" else {},
    )


def _baseline_id(model: Model, baseline: str) -> int | None:
    """The token whose embedding the baseline puts at every attributed position (None: the zero vector)."""
    if baseline == "zero":
        return None
    if baseline == "pad":
        return pad_id(model)
    token = model.tokenizer.unk_token_id if baseline == "unk" else model.mask_token_id
    if token is None:
        raise InputError(
            f"{model.name}'s tokenizer has no {baseline} token, so baseline={baseline!r} has no embedding: use "
            "baseline='pad' or 'zero'"
        )
    return int(token)


def _embeddings(model: Model, ids: torch.Tensor) -> torch.Tensor:
    """Token embeddings ``(1, T, d_model)`` of ``ids`` ``(1, T)``, as the forward pass makes them (position and
    token-type embeddings are added after this hook point)."""
    name = _hooks.TOKEN_EMBED
    _, cache = model.run_with_cache(ids, names=[name], stop_after=name)
    return cache[name].float()


def _attribute_one(
    model: Model,
    row: np.ndarray,
    read: int,
    token: int,
    suppress: list[int],
    objective: str,
    method: str,
    base_id: int | None,
    n_steps: int,
    integral: str,
) -> dict:
    """One generated ``token`` read at ``read`` of ``row`` ``(T,)``: scores ``(T,)``, the value at the input and
    at the baseline, and integrated gradients' convergence delta."""
    from captum.attr import InputXGradient, IntegratedGradients, Saliency

    ids = torch.as_tensor(np.asarray(row, dtype=np.int64)).reshape(1, -1).to(model.device)
    T = ids.shape[1]
    emb = _embeddings(model, ids)  # (1, T, d)

    def f(e: torch.Tensor) -> torch.Tensor:  # (B, T, d) token embeddings -> (B,)
        def replace(tensor: torch.Tensor, hook: object) -> torch.Tensor:
            return e.to(tensor.device, tensor.dtype)

        with model.hooks({_hooks.TOKEN_EMBED: replace}):
            resid = model.final_resid(ids.expand(e.shape[0], T))
        logits = model.decode_resid(resid[:, read]).float()  # (B, d_vocab): the read position only
        if suppress:  # what a masked LM may not commit is out of its softmax, as in generate
            logits = logits.index_fill(-1, torch.tensor(suppress, device=logits.device), -torch.inf)
        logp = F.log_softmax(logits, dim=-1)[:, token]
        return logp.exp() if objective == "prob" else logp

    with torch.no_grad():
        value = float(f(emb)[0])
    if method == "saliency":
        attr = Saliency(f).attribute(emb.clone().requires_grad_(True), abs=True)
        return {"scores": _sum(attr), "value": value, "base_value": math.nan, "delta": math.nan}
    if method == "input_x_gradient":
        attr = InputXGradient(f).attribute(emb.clone().requires_grad_(True))
        return {"scores": _sum(attr), "value": value, "base_value": math.nan, "delta": math.nan}
    # Content tokens and masks are attributed; special tokens keep their embedding (and score 0).
    ids_list = row.tolist()
    attributed = content_mask(model, ids_list) | (np.asarray(ids_list) == model.mask_token_id)
    keep = torch.as_tensor(~attributed, device=emb.device)[None, :, None]
    if base_id is None:
        fill = torch.zeros_like(emb[0, 0])
    else:
        fill = _embeddings(model, torch.tensor([[base_id]], device=model.device))[0, 0]
    base = torch.where(keep, emb, fill)
    with torch.no_grad():
        base_value = float(f(base)[0])
    ig = IntegratedGradients(f, multiply_by_inputs=True)
    attr, delta = ig.attribute(
        emb,
        baselines=base,
        n_steps=n_steps,
        method=integral,
        internal_batch_size=_batch(model, T, n_steps),
        return_convergence_delta=True,
    )
    return {
        "scores": _sum(attr),
        "value": value,
        "base_value": base_value,
        "delta": float(delta.reshape(-1)[0]),
    }


def _sum(attr: torch.Tensor) -> np.ndarray:
    """Per-token scores ``(T,)`` from ``(1, T, d_model)`` attributions: summed over the embedding dimension."""
    return attr.detach()[0].sum(-1).double().cpu().numpy()


def _batch(model: Model, T: int, n_steps: int, budget_bytes: float = 512e6) -> int:
    """Path steps per forward+backward pass so that one pass's float32 activations stay near ``budget_bytes``."""
    per_step = 4 * (model.n_layers * (16 * T * model.d_model + 2 * model.n_heads * T * T) + 3 * model.d_vocab)
    return max(1, min(n_steps, int(budget_bytes // per_step)))


__all__ = ["attribute_generation"]
