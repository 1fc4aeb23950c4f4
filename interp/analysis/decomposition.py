"""Direct logit attribution: which component writes the answer at the read position.

The residual stream at the read position is the sum of what each component wrote there: the token embedding
(and the position and token-type embeddings where the family has them), every attention head (its slice of
``hook_z`` times its rows of ``W_O``), every attention output bias and every MLP, all taken from one forward
pass. The answer's logit reads that sum through the model's final stages; with their normalisation scales
frozen at this run's values (standard direct logit attribution), the read is linear and each write gets its
own share of the logit:

- Pre-norm causal families (GPT-2, GPT-NeoX, Llama, Qwen2, OPT, Mistral, Gemma, Phi-3): a write ``x``
  contributes ``x · P(w ⊙ u) / s``, where ``u`` is the answer's unembedding column (minus the contrast's), ``w``
  and ``s`` the final norm's weight (``1 + weight`` for Gemma's norms) and its scale at the read position in this
  run, and ``P`` subtracts the mean where the final norm is a LayerNorm (an RMSNorm has no mean to subtract).
  The token embedding is taken as it enters the first block (Gemma's ``sqrt(d_model)`` scale included). The
  final norm's bias and the unembedding's bias are components of their own. Exact: the shares sum to the logit
  up to rounding. Families that normalise each sublayer's output before adding it (Gemma 2 and 3, OLMo 2) have
  that norm's scale frozen too, so each head reaches the residual stream through a fixed linear map; the MLP's
  write is read after its norm.
- Post-norm masked LMs (BERT, RoBERTa, DistilBERT, ELECTRA): every LayerNorm of the stack (after the embeddings,
  after each sublayer) is applied with its scale frozen at this run's value at the read position, so each write
  reaches the last residual through the fixed affine maps those norms were in this run, and each norm's bias is
  a component (ELECTRA's narrower embeddings then pass through its linear projection, whose bias is one too). The
  masked-LM head (dense, activation, LayerNorm, decoder) is read with its norm's scale and its
  activation's gate ``g = act(p) / p`` (``p`` the dense layer's output at the read position) frozen: a write
  ``x`` reaching the last residual as ``x'`` contributes ``(g ⊙ P(w ⊙ u) / s) · (W_dense x')``; the dense bias,
  the head norm's bias and the decoder's bias are components. Because every frozen quantity takes its value
  from this run, the shares sum to the logit; ``approximation_error`` reports what rounding leaves (on the zoo's
  masked model over its 280 corpus and hand-written probes: median 8e-7, at most 6e-6 logits, for targets of
  about 6). For GELU the gate is ``Phi(p)``, a factor in (0, 1) per hidden unit, the smooth counterpart of a
  ReLU's on/off mask. The head's Jacobian at the read position would read the writes as a tangent plane and
  leave its intercept unexplained: on the same probes that intercept is about as large as the logit itself.
- ModernBERT (a pre-norm masked LM): its writes add up as in the pre-norm families, pass through the encoder's
  final norm with its scale frozen, and are read through the masked-LM head as above.

Soft-capped logits (``final_logit_softcapping``, Gemma 2) are decomposed before the cap, and the result says so.
An answer of several tokens is decomposed at its first token, and the result says so.
"""

from __future__ import annotations

import torch

from interp import checks
from interp.analysis import memory as _memory
from interp.analysis.batches import BATCH_SIZE, check_texts, many, per_text, run_many
from interp.analysis.component_writes import Writes, check_rebuilt, norm, post_norm_writes, pre_norm_writes
from interp.analysis.registry import analysis
from interp.errors import InputError, InterpError
from interp.models import hooks as _hooks
from interp.models.bridge_decompose import ENCODER_NORM, FINAL_NORM
from interp.models.frame import ids_str, token_str
from interp.models.handle import Model
from interp.models.reading import Reading
from interp.models.reading import read as read_input
from interp.results import DecompositionResult

CAUSAL_READ = (
    "direct logit attribution: the final norm's scale frozen at this run's value at the read position (the mean "
    "subtracted where it is a LayerNorm); exact up to rounding"
)
SUBLAYER_READ = "; each sublayer's output norm has its scale frozen there too"
MASKED_READ = (
    "every LayerNorm's scale frozen at this run's value at the read position (after the embeddings and after "
    "each sublayer, so each write reaches the last residual through those fixed affine maps), then the masked-LM "
    "head with its activation's gate act(p)/p and its LayerNorm's scale frozen at their values there"
)
PRE_NORM_MASKED_READ = (
    "the encoder's final norm's scale frozen at this run's value at the read position, then the masked-LM head "
    "with its activation's gate act(p)/p and its LayerNorm's scale frozen at their values there"
)


@analysis(
    "decompose",
    result=DecompositionResult,
    needs={"cache"},
    memory=_memory.decompose_memory,
    magic="decompose",
)
@torch.no_grad()
def decompose(
    model: Model,
    text: str | torch.Tensor | list[str],
    *,
    answer: str | int | None = None,
    contrast: str | int | None = None,
    position: int | None = None,
    allow_unknown: bool = False,
    check_memory: bool = True,
    batch_size: int = BATCH_SIZE,
    progress: bool = True,
) -> DecompositionResult | list[DecompositionResult]:
    """Split the answer's logit (minus the contrast's) at the read position into one share per component.

    ``text`` is framed by :meth:`interp.Model.frame` (a probe with one ``___`` slot, plain text or tokens).
    Components: the embeddings, every attention head, every attention output bias, every MLP and the other
    biases (normalisations', unembedding's, masked-LM head's). ``answer`` defaults to the model's top-1; an
    answer or contrast of several tokens is read at its first token (a masked LM's slot gets one mask per
    answer token). Everything comes from one forward pass; soft-capped logits are decomposed before the cap.

    How the writes are read (stated in the result's ``linearization``): causal pre-norm families, with the final
    norm's scale frozen at this run's value (standard direct logit attribution; exact). Masked LMs (post-norm):
    every LayerNorm's scale and the masked-LM head's activation gate ``act(p) / p`` frozen at their values at
    the read position, so each write reaches the logit through the fixed affine maps of this run (exact up to
    rounding; the head's Jacobian would leave an intercept as large as the logit unexplained).
    ``approximation_error`` is ``target - sum(contributions)``. Past the free memory of the model's device it is
    refused before it starts, unless ``check_memory=False``.

    A list of texts gives a list of results, each equal to its own call: ``answer``, ``contrast`` and
    ``position`` are one value for all or a list with one per text; the texts run ``batch_size`` at a time in
    right-padded batches with an attention mask (fewer where the free memory says so), under one progress bar
    (``progress=False``: none).
    """
    checks.model(model)
    model.require_lm_head()  # decompose splits an answer's logit
    texts = many(text, batch_size=batch_size, progress=progress)
    if texts is not None:
        return _decompose_many(
            model, texts, answer, contrast, position, allow_unknown, check_memory, batch_size, progress
        )
    reading = _read(model, text, answer, contrast, position, allow_unknown)
    reader = model.decompose_reader()
    parts = _parts(model, reader)
    _memory.require(model, "decompose", reading.frame.T, enabled=check_memory)
    # ``at``: the read position's index in the cache (a reader may keep that position alone)
    cache, at = _run_one(reader, parts, reading)
    return _decomposed(model, reader, parts, reading, cache, at)


def _read(model: Model, text, answer, contrast, position, allow_unknown: bool) -> Reading:
    reading = read_input(
        model, text, answer=answer, contrast=contrast, position=position, allow_unknown=allow_unknown
    )
    if reading.answer is not None:
        _check_pair(model, reading.answer, reading.contrast)
    return reading


def _run_one(reader, parts: frozenset[str], reading: Reading) -> tuple[dict[str, torch.Tensor], int]:
    a_ids, c_ids = reading.answer, reading.contrast
    return reader.run(
        reading.frame.tokens,
        parts,
        reading.frame.position,
        answer=a_ids[0] if a_ids else None,
        contrast=c_ids[0] if c_ids else None,
    )


def _decompose_many(
    model, texts, answer, contrast, position, allow_unknown, check_memory, batch_size, progress
):
    """One result per text; forward passes in padded batches (an engine without them: one text per pass, through
    its reader's own single-text run)."""
    check_texts(texts)
    n = len(texts)
    readings = [
        _read(model, t, a, c, p, allow_unknown)
        for t, a, c, p in zip(
            texts,
            per_text("answer", answer, n),
            per_text("contrast", contrast, n),
            per_text("position", position, n),
        )
    ]
    reader = model.decompose_reader()
    parts = _parts(model, reader)

    def run(idx: list[int], tokens: torch.Tensor, mask: torch.Tensor | None) -> list[DecompositionResult]:
        if len(idx) == 1:
            cache, at = _run_one(reader, parts, readings[idx[0]])
            return [_decomposed(model, reader, parts, readings[idx[0]], cache, at)]
        cache, _ = reader.run(tokens, parts, 0, attention_mask=mask)  # every position of every row kept
        out = []
        for b, i in enumerate(idx):
            row = {name: value[b : b + 1] for name, value in cache.items()}  # (1, ...) as a single run's
            out.append(_decomposed(model, reader, parts, readings[i], row, readings[i].frame.position))
        return out

    rows = [r.frame.tokens[0] for r in readings]
    return run_many(
        model, "decompose", rows, run, batch_size=batch_size, progress=progress, check_memory=check_memory
    )


def _decomposed(
    model: Model, reader, parts: frozenset[str], reading: Reading, cache: dict[str, torch.Tensor], at: int
) -> DecompositionResult:
    """The decomposition of ``reading`` from its forward pass's ``cache`` (``at``: its read position there)."""
    frame, a_ids, c_ids = reading.frame, reading.answer, reading.contrast
    r = frame.position
    logits = reader.logits(cache, at)  # (d_vocab,): the model's own, pre-cap
    if a_ids is None:
        a_ids = (int(logits.argmax()),)
        _check_pair(model, a_ids, c_ids)
    writes = Writes(cache["embed.hook_out"].shape[-1] if "post_norm" in parts else model.d_model)
    (post_norm_writes if "post_norm" in parts else pre_norm_writes)(reader, cache, at, writes, parts)
    resid = cache[_hooks.final_resid_name(model)][0, at].double()
    check_rebuilt(model, writes.rows.sum(0), resid, reader.dtype())
    if ENCODER_NORM in parts:
        writes.through(norm(reader, ENCODER_NORM, cache, at), "final norm bias")
    read = _masked_read if model.reads_mask_token else _causal_read
    direction, scalars = read(reader, cache, at, a_ids[0], None if c_ids is None else c_ids[0])
    contributions = torch.cat([writes.rows @ direction, torch.tensor([v for _, v in scalars])])
    for label, _ in scalars:
        writes.note(label, "bias")
    target = float(logits[a_ids[0]] - (0 if c_ids is None else logits[c_ids[0]]))
    softcap = model.logit_softcap
    return DecompositionResult(
        model_name=model.name,
        revision=model.revision,
        kind=model.kind,
        tokens=frame.str_tokens,
        position=r,
        answer=ids_str(model, a_ids),
        answer_ids=a_ids,
        contrast=None if c_ids is None else ids_str(model, c_ids),
        contrast_ids=c_ids,
        labels=writes.labels,
        component_kinds=writes.kinds,
        layers=torch.tensor(writes.layers).numpy(),
        heads=torch.tensor(writes.heads).numpy(),
        contributions=contributions.numpy(),
        target=target,
        approximation_error=target - float(contributions.sum()),
        n_layers=model.n_layers,
        n_heads=model.n_heads,
        linearization=_linearization(model, parts),
        softcap=softcap,
        notes=_notes(model, a_ids, c_ids, softcap),
    )


def _check_pair(model: Model, answer: tuple[int, ...], contrast: tuple[int, ...] | None) -> None:
    if contrast is None or contrast[0] != answer[0]:
        return
    if tuple(contrast) == tuple(answer):
        raise InputError(
            f"answer and contrast are the same ({ids_str(model, answer)!r}): pass a different contrast"
        )
    raise InputError(
        f"answer {ids_str(model, answer)!r} and contrast {ids_str(model, contrast)!r} start with the same token "
        f"{token_str(model, answer[0])!r}, and decompose reads first tokens only: pass a contrast that starts "
        "with another token"
    )


# ---- where the activations and weights come from --------------------------------------------------------------


def _parts(model: Model, reader) -> frozenset[str]:
    """The reader's parts, checked: decompose needs a final norm (and a masked-LM head for a masked LM)."""
    parts = reader.parts()
    missing = [p for p in (FINAL_NORM, *(("mlm_head",) if model.reads_mask_token else ())) if p not in parts]
    if missing or ("post_norm" in parts and "embed_ln" not in parts):
        raise InterpError(
            f"decompose reads the answer through a final norm{' and a masked-LM head' if model.reads_mask_token else ''}, "
            f"which {model.name}'s engine does not expose ({', '.join(missing) or 'embed_ln'}): use the logit lens "
            "or attribution for this model"
        )
    return parts


# ---- the readout ------------------------------------------------------------------------------------------------


def _causal_read(reader, cache, r: int, answer: int, contrast: int | None):
    """The direction every write is read along, and the scalar components after the final norm."""
    u, b_U = reader.unembedding(answer, contrast)
    final = norm(reader, FINAL_NORM, cache, r)
    scalars = [] if final.bias is None else [("final norm bias", float(u @ final.bias))]
    scalars += [] if b_U is None else [("unembedding bias", b_U)]
    return final.read(u), scalars


def _masked_read(reader, cache, r: int, answer: int, contrast: int | None):
    """Through the masked-LM head (dense, activation, LayerNorm, decoder) with the norm's scale and the
    activation's gate frozen at the read position."""
    u, b_U = reader.unembedding(answer, contrast)
    head_norm = norm(reader, FINAL_NORM, cache, r)
    pre = cache["mlm_head.hook_out"][0, r].double().cpu()  # (d_model,) the dense layer's output
    post = cache["ln_final.hook_in"][0, r].double().cpu()  # the activation's output
    gate = torch.where(pre != 0, post / torch.where(pre != 0, pre, 1), torch.zeros_like(pre))
    on_pre = head_norm.read(u) * gate  # the direction on the dense layer's output
    weight, bias = reader.linear("mlm_head")
    direction = on_pre @ weight  # (d_model,)
    scalars = [] if bias is None else [("head dense bias", float(on_pre @ bias))]
    scalars += [] if head_norm.bias is None else [("head norm bias", float(u @ head_norm.bias))]
    scalars += [] if b_U is None else [("decoder bias", b_U)]
    return direction, scalars


# ---- what the result says -----------------------------------------------------------------------------------


def _linearization(model: Model, parts: frozenset[str]) -> str:
    if not model.reads_mask_token:
        return CAUSAL_READ + (SUBLAYER_READ if "sublayer_norm" in parts else "")
    return MASKED_READ if "post_norm" in parts else PRE_NORM_MASKED_READ


def _notes(model: Model, answer: tuple[int, ...], contrast: tuple[int, ...] | None, softcap: float | None):
    notes = []
    for role, ids in (("answer", answer), ("contrast", contrast)):
        if ids is not None and len(ids) > 1:
            notes.append(
                f"the {role} {ids_str(model, ids)!r} has {len(ids)} tokens: the logit of its first token "
                f"{token_str(model, ids[0])!r} is decomposed"
            )
    if softcap is not None:
        notes.append(
            f"the model soft-caps its logits ({softcap:g} * tanh(logit / {softcap:g})): the pre-cap logit is "
            "decomposed"
        )
    return tuple(notes)


__all__ = ["decompose"]
