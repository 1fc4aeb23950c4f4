"""Memory before work: the peak bytes each analysis adds above the loaded model, estimated from the model's shape
and the input's length before anything is allocated, and the refusal when the device has less free.

The estimates are calibrated on the engine as it runs (gpt2-small shape, T = 128 and 512;
``python -m benchmarks.bench_memory`` measures them against the process's peak). One fact of the engine shapes
them all: a forward pass keeps each block's attention pattern (and a few residual-sized tensors) alive until the
pass ends, so a forward pass over ``T`` tokens holds about ``n_layers * n_heads * T**2`` activations at its end,
not one layer's worth.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from typing import Any

from interp import checks
from interp.analysis.registry import analysis
from interp.errors import InputError, echo

# ---- the engine's forward pass, measured ---------------------------------------------------------------------

RESID_KEPT = 1.0
"""Residual-sized tensors (``T x d_model``) a no-gradient forward pass keeps per block until it ends."""
PATTERN_KEPT = 0.9
"""Attention-pattern-sized tensors (``n_heads x T x T``) it keeps per block (the engine holds each block's
pattern; a little of it is reused)."""
MLP_TRANSIENT = 3
"""MLP-sized tensors (``T x d_mlp``) alive at once inside one block (input, activation and its temporaries).
With :data:`RESID_KEPT` and :data:`PATTERN_KEPT`, fitted to the measured growth of one row and of a batch (at
gpt2-small shape: 17 MiB a row at T = 128, 177 MiB at T = 512)."""
OVERHEAD = 4 * 2**20
"""Bytes any analysis adds whatever its size (Python objects, hook closures, small tensors)."""
CHUNK_BUDGET = 256 * 2**20
"""Bytes of activations one batched forward pass of patching may take; more positions are run in chunks."""


def _sizes(model: Any) -> tuple[int, int, int, int, int, int]:
    """(bytes per activation, n_layers, n_heads, d_model, d_mlp, d_vocab)."""
    import torch

    dtype = model.dtype
    e = torch.empty((), dtype=dtype).element_size() if dtype.is_floating_point else 4
    d_mlp = model.d_mlp
    return e, model.n_layers, model.n_heads, model.d_model, d_mlp, model.d_vocab


def forward_bytes(model: Any, rows: int, T: int) -> int:
    """Peak bytes of one no-gradient forward pass over ``rows`` rows of ``T`` tokens, up to the final residual
    stream (no vocabulary-sized output)."""
    e, L, H, d, d_mlp, _ = _sizes(model)
    per_row = L * (RESID_KEPT * T * d + PATTERN_KEPT * H * T * T) + MLP_TRANSIENT * T * d_mlp
    return int(e * rows * per_row)


def patch_chunk(model: Any, rows: int, T: int) -> int:
    """Positions patched in one batched forward pass (each a copy of the ``rows`` corrupt rows), so that the
    pass stays within :data:`CHUNK_BUDGET`."""
    return max(1, min(T, int(CHUNK_BUDGET // max(1, forward_bytes(model, rows, T)))))


# ---- one estimate per analysis ----------------------------------------------------------------------------------

STACK_COPIES = 5
"""Pattern stacks ``(n_layers, n_heads, T, T)`` alive at once in :func:`interp.attention`: the stack, the
statistics' selected and renormalised copies and their temporaries (measured 4.9-5.1 at T = 128 and 512)."""
LENS_CHUNK_COPIES = 7
"""Vocabulary-sized ``(chunk, d_vocab)`` tensors alive at once while the lens decodes one chunk (final
distribution, the layer's logits, log-probabilities, the decode's and the KL's temporaries)."""


def advice(text: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Mark an estimate with what to do when the memory is refused (otherwise: "shorten the text")."""

    def mark(estimate: Callable[..., int]) -> Callable[..., int]:
        estimate.advice = text  # type: ignore[attr-defined]
        return estimate

    return mark


@advice("shorten the text (patterns grow with its square)")
def attention_memory(model: Any, T: int, rows: int = 1, **_: Any) -> int:
    e, L, H, d, _, _ = _sizes(model)
    stacked = STACK_COPIES * 4 * L * H * T * T  # float32 patterns
    return int(max(forward_bytes(model, 1, T), stacked) + e * L * T * d + OVERHEAD)


@advice("shorten the text or pass a smaller chunk=")
def lens_memory(
    model: Any, T: int, rows: int = 1, *, chunk: int = 32, top_k: int = 5, lens: str = "logit", **_: Any
) -> int:
    from interp.analysis.lens import LAYER_GROUP_BYTES

    e, L, H, d, _, V = _sizes(model)
    stack = 4 * (L + 1) * T * d
    c = min(chunk, T)
    group = min(L + 1, max(1, LAYER_GROUP_BYTES // (4 * c * V)))
    decode = LENS_CHUNK_COPIES * 4 * group * c * V
    results = (L + 1) * T * (top_k * (8 + 4 + 64) + 16)  # ids, probabilities, token strings, per-row floats
    need = max(forward_bytes(model, 1, T) + 2 * stack, stack + decode) + results + OVERHEAD
    if lens == "tuned":
        need += 2 * 4 * T * d + _translator_bytes(model)
    return int(need)


def _translator_bytes(model: Any) -> int:
    """The tuned lens's translators, unless they are already loaded for this model."""
    from interp.analysis import tuned

    if tuned._TRAINED.get(model) is not None:
        return 0
    return 4 * model.n_layers * model.d_model * (model.d_model + 1)


@advice("shorten the text, use method='saliency' (one step), or fewer n_steps")
def attribution_memory(
    model: Any,
    T: int,
    rows: int = 1,
    *,
    method: str = "integrated_gradients",
    n_steps: int = 50,
    tolerance: float | None = 0.01,
    **_: Any,
) -> int:
    from interp.analysis.attribution.memory import attribution_memory as _attribution

    return _attribution(model, T, rows, method, n_steps, tolerance)


@advice("shorten the texts")
def patch_memory(model: Any, T: int, rows: int = 1, **_: Any) -> int:
    e, L, _, d, _, _ = _sizes(model)
    clean = e * (L + 1) * rows * T * d  # the clean run's activations at every layer
    chunk = patch_chunk(model, rows, T)
    patched = forward_bytes(model, chunk * rows, T) + e * chunk * rows * T * d  # + the hook's edited copy
    # The clean pass's own peak stays with the process while the patched chunks run (measured: without it the
    # estimate was 0.57x the peak at T = 512, where a chunk is one row).
    return int(clean + forward_bytes(model, rows, T) + patched + OVERHEAD)


def ablate_memory(model: Any, T: int, rows: int = 1, **_: Any) -> int:
    return int(forward_bytes(model, 2 * rows, T) + OVERHEAD)  # unablated and ablated in one batch


def head_importance_memory(model: Any, T: int, rows: int = 1, **_: Any) -> int:
    return int(forward_bytes(model, model.n_heads * rows, T) + OVERHEAD)  # one layer's heads in one batch


def decompose_memory(model: Any, T: int, rows: int = 1, **_: Any) -> int:
    e, L, H, d, _, _ = _sizes(model)
    kept = e * (2 * L + 4) * T * d  # every head's output and MLP output, the final norm's input and output
    writes = 8 * (L * (H + 2) + 8) * d  # one float64 row per component
    return int(forward_bytes(model, 1, T) + kept + writes + OVERHEAD)


INDUCTION_STACK_COPIES = 2
"""Float32 pattern stacks ``(n_layers, n_heads, T, T)`` alive at once in :func:`interp.induction_scores`: the
cached patterns and their stack (the pass stops at the last pattern and keeps nothing else; measured 2.0 at
T = 512)."""


@advice("pass a smaller seq_len (patterns grow with the square of 2 * seq_len)")
def induction_memory(model: Any, T: int, rows: int = 1, **_: Any) -> int:
    """``T``: the tokens of one sequence (its two copies and the special tokens around them)."""
    e, L, H, _, d_mlp, _ = _sizes(model)
    one_block = e * MLP_TRANSIENT * T * d_mlp  # the block being run
    return int(INDUCTION_STACK_COPIES * 4 * L * H * T * T + one_block + OVERHEAD // 4)


GENERATE_READ_COPIES = 4
"""Vocabulary-sized ``(read, d_vocab)`` tensors alive at once while one step reads its positions (the logits'
float copy, the softmax and their temporaries; with the lens: one layer's decode, float copy, log-softmax)."""
GENERATE_LENS_LOGITS = 1
"""Extra ``(T, d_vocab)`` logits-sized tensors a step with the lens holds (its run with a cache returns the
logits alongside the residual streams; measured 0.97-1.16 at T = 128 and 512)."""


def _token_chars(model: Any) -> int:
    """Characters of the longest token string: a numpy string array holds each element at that width."""
    try:
        return max(1, max(len(t) for t in model.tokenizer.get_vocab()))
    except Exception:  # noqa: BLE001  (a tokenizer without a vocabulary listing: a generous word length)
        return 32


@advice("generate fewer tokens, a shorter prompt, a smaller top_k, or lens=False")
def generate_memory(
    model: Any,
    T: int,
    rows: int = 1,
    *,
    new: int = 1,
    steps: int = 1,
    read: int = 1,
    lens: bool = False,
    top_k: int = 5,
    **_: Any,
) -> int:
    """``T``: the tokens of the finished row; ``new`` positions written over ``steps`` steps, each reading at
    most ``read`` positions; ``lens``: the lens's ``top_k`` kept at every layer, step and written position."""
    e, L, _, d, d_mlp, V = _sizes(model)
    # A step's peak is at the end of its pass: the kept activations (no block running) and the full logits.
    step = forward_bytes(model, 1, T) - e * MLP_TRANSIENT * T * d_mlp + e * T * V
    step += GENERATE_READ_COPIES * 4 * read * V
    history = 2 * 8 * (steps + 1) * T  # every step's row (int64), and their stack in the result
    need = step + history
    if lens:
        need += e * (L + 1) * T * d + GENERATE_LENS_LOGITS * e * T * V  # the cached residual streams
        n = steps * (L + 1) * new * top_k
        # ids (int64) and probabilities (float32) kept; at the end np.unique's sorted copy, the object array
        # np.vectorize builds and the fixed-width string array (4 bytes a character) of the token strings.
        need += n * (8 + 4 + 8 + 8 + 4 * _token_chars(model))
    return int(need)


TUNED_PIECE_COPIES = 4
"""Vocabulary-sized pieces ``(group, chunk, d_vocab)`` alive at once in one step of tuned-lens training (the
final distribution, the translated logits' log-softmax kept for the backward pass, the product with the final
distribution and the gradient flowing back; measured 4.5 at T = 128 and 512, with the pass's activations)."""


@advice("pass shorter texts or a smaller batch_size")
def tuned_lens_memory(model: Any, T: int, rows: int = 1, **_: Any) -> int:
    """``T``: the longest training text's tokens; ``rows``: the batch size."""
    from interp.analysis.tuned import PIECE_BYTES

    e, L, _, d, _, V = _sizes(model)
    params = 4 * L * (d * d + d)  # the translators (float32); their gradient, and Adam's two moments
    N = rows * T  # positions of one batch
    resid = 4 * (L + 1) * N * d  # the residual stream at every layer, stacked (float32 at most)
    chunk = min(N, max(1, PIECE_BYTES // (4 * V)))
    group = max(1, min(L, PIECE_BYTES // (4 * V * chunk)))
    # Measured: the forward pass's activations are still held by the process while the KL pieces run.
    kl = 2 * params + forward_bytes(model, rows, T) + resid + TUNED_PIECE_COPIES * 4 * group * chunk * V
    step = 4 * params + resid  # Adam's update
    return int(max(kl, step) + OVERHEAD)


def estimates() -> dict[str, Callable[..., int]]:
    """Analysis name -> its estimate, as each analysis declares it (``@analysis(..., memory=...)``; None there is
    an explicit "no estimate")."""
    from interp.analysis import registry

    return registry.estimates()


def __getattr__(name: str) -> Any:
    if name == "ESTIMATES":  # derived from the declarations on each use, never a second list
        return estimates()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def need(model: Any, analysis: str, T: int, rows: int = 1, **settings: Any) -> int:
    """Bytes ``analysis`` needs above the loaded model for ``rows`` rows of ``T`` tokens."""
    return estimates()[analysis](model, T, rows, **settings)


def require(
    model: Any, analysis: str, T: int, rows: int = 1, *, enabled: bool = True, **settings: Any
) -> int:
    """The estimate of :func:`need`; a :class:`~interp.errors.ResourceError` with it, before any work, when it
    exceeds the memory free on the model's device (``enabled=False``: the estimate only)."""
    estimate = need(model, analysis, T, rows, **settings)
    what_to_do = getattr(estimates()[analysis], "advice", "shorten the text")
    # A remote model's memory is its server's, which says so itself.
    if checks.flag("check_memory", enabled) and not getattr(model, "remote", False):
        checks.memory(
            estimate,
            model.device,
            f"{analysis} on {T} tokens ({rows} row(s)) of {model.name}",
            f"{what_to_do}, run on a machine with more memory, or pass check_memory=False to try anyway",
        )
    return estimate


# ---- the public estimate ----------------------------------------------------------------------------------------


@analysis("estimate_memory", result=None, needs=(), memory=None)
def estimate_memory(model: Any, analysis_name: str, text_or_T: Any, **kwargs: Any) -> int:
    """Peak bytes that ``interp.<analysis_name>(model, text, **kwargs)`` would add above the loaded model,
    without running anything: the estimate each analysis checks against the free memory of the model's device
    before it starts (refusing with :class:`~interp.errors.ResourceError` past it, unless
    ``check_memory=False``).

    ``analysis_name``: an analysis that declares an estimate (:data:`ESTIMATES`, read from the ``@analysis``
    declarations), e.g. ``"attention"``, ``"logit_lens"`` (``lens="tuned"`` too), ``"attribute"`` (per
    ``method`` and ``n_steps``), ``"patch"``, ``"ablate"``, ``"head_importance"``, ``"decompose"``,
    ``"induction_scores"``, ``"generate"`` (``lens=True`` and ``top_k`` too) or ``"tuned_lens"``.
    ``text_or_T``: the text (a probe, plain text or tokens; for ``patch`` the clean text) or a number of tokens;
    for ``induction_scores`` its ``seq_len``, for ``generate`` the prompt (``n_tokens=`` the tokens to write),
    for ``tuned_lens`` the training texts (None: the default corpus; a number: the longest text's tokens).
    ``kwargs`` are the analysis's own keywords (``answer``, ``contrast``, ``objective``, ``method``, ``n_steps``,
    ``tolerance``, ``chunk``, ``top_k``, ``lens``, ...); those that do not change its memory are accepted and
    ignored. An answer that is not given counts as one token. Mean ablation's pass over its reference texts is
    not included. Calibrated within +-30% of the measured peak at gpt2-small shape (docs/benchmarks.md).
    """
    checks.model(model)
    analysis = checks.choice("analysis_name", analysis_name, estimates())
    _check_keywords(analysis, kwargs)
    if isinstance(text_or_T, numbers.Integral) and not isinstance(text_or_T, bool):
        text_or_T = int(text_or_T)  # a numpy integer is a number of tokens as an int is
    if analysis in _SHAPES:  # not a text of T tokens: a sequence length, a prompt to continue, training texts
        T, rows, settings = _SHAPES[analysis](model, text_or_T, kwargs)
    else:
        settings = _settings(model, analysis, kwargs)
        T, rows = _shape(model, analysis, text_or_T, kwargs)
    return need(model, analysis, T, rows, **settings)


def _induction_shape(model: Any, seq_len: Any, kwargs: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
    from interp.analysis.patterns import induction_length

    return induction_length(model, checks.integer("seq_len", seq_len, low=2)), 1, {}


def _generate_shape(model: Any, prompt: Any, kwargs: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
    """A prompt (or its number of tokens) and generate's keywords -> the finished row's tokens and the steps."""
    from interp.analysis import generation

    n = checks.integer("n_tokens", kwargs.get("n_tokens", 1), low=1, high=model.n_ctx)
    lens = checks.flag("lens", kwargs.get("lens", False))
    top_k = checks.integer("top_k", kwargs.get("top_k", 5), low=1, high=model.d_vocab)
    causal = model.generator == "causal"
    if isinstance(prompt, int) and not isinstance(prompt, bool):
        T = checks.integer("text_or_T", prompt, low=1, high=model.n_ctx)
        new, T = n, T + n
    elif isinstance(prompt, str):
        start = generation._causal_start if causal else generation._masked_start
        tokens, positions = start(model, prompt, n)
        new, T = len(positions), tokens.shape[1] + (n if causal else 0)
    else:
        raise InputError(f"text_or_T must be a prompt or a number of tokens, got {type(prompt).__name__}")
    steps = kwargs.get("steps")
    steps = new if causal or steps is None else checks.integer("steps", steps, low=1, high=max(1, new))
    read = 1 if causal else new
    return T, 1, {"new": new, "steps": steps, "read": read, "lens": lens, "top_k": top_k}


def _tuned_shape(model: Any, texts: Any, kwargs: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
    """Training texts (None: the default corpus; or a number of tokens) -> the longest row and the batch."""
    batch = checks.integer("batch_size", kwargs.get("batch_size", 16), low=1, high=4096)
    if isinstance(texts, int) and not isinstance(texts, bool):
        return checks.integer("text_or_T", texts, low=1, high=model.n_ctx), batch, {}
    from interp.analysis import tuned

    steps = checks.integer("steps", kwargs.get("steps", 300), low=1, high=100_000)
    seed = checks.integer("seed", kwargs.get("seed", 0), low=0, high=checks.MAX_SEED)
    rows = tuned._rows(model, texts, steps * batch, seed)
    return max(len(r) for r in rows), batch, {}


def _generation_attribution_shape(model: Any, prompt: Any, kwargs: dict[str, Any]) -> tuple[int, int, dict]:
    """generate's shape, and the attribution's method and path steps."""
    from interp.results.generation_attribution import METHODS

    T, rows, settings = _generate_shape(model, prompt, {**kwargs, "lens": False})
    method = checks.choice("method", kwargs.get("method", "integrated_gradients"), METHODS)
    n_steps = checks.integer("n_steps", kwargs.get("n_steps", 50), low=2, high=1000)
    return T, rows, {"new": settings["new"], "steps": settings["steps"], "method": method, "n_steps": n_steps}


_SHAPES = {
    "induction_scores": _induction_shape,
    "generate": _generate_shape,
    "tuned_lens": _tuned_shape,
    "attribute_generation": _generation_attribution_shape,
}


def _public(analysis: str) -> Callable[..., Any]:
    import interp

    return getattr(interp, analysis)


def _check_keywords(analysis: str, kwargs: dict[str, Any]) -> None:
    params = inspect.signature(_public(analysis)).parameters
    accepted = [p for p in list(params)[2:] if p != "check_memory"]  # after (model, text)
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise InputError(
            f"estimate_memory for {analysis} got unknown keyword(s) {echo(', '.join(unknown))[1:-1]}: it takes "
            f"those of interp.{analysis}: {', '.join(accepted)}"
        )


def _settings(model: Any, analysis: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keywords that change the estimate, checked as the analysis checks them."""
    if analysis == "logit_lens":
        return {
            "chunk": checks.integer("chunk", kwargs.get("chunk", 32), low=1),
            "top_k": checks.integer("top_k", kwargs.get("top_k", 5), low=1, high=model.d_vocab),
            "lens": checks.choice("lens", kwargs.get("lens", "logit"), ("logit", "tuned")),
        }
    if analysis == "attribute":
        from interp.analysis.attribution import check_method

        method, n_steps, tolerance = check_method(
            kwargs.get("method", "integrated_gradients"),
            kwargs.get("n_steps", 50),
            kwargs.get("tolerance", 0.01),
        )
        return {"method": method, "n_steps": n_steps, "tolerance": tolerance}
    if analysis in ("ablate", "head_importance"):  # their values do not change the estimate, but are checked
        from interp.analysis import ablation

        if "mode" in kwargs:
            ablation._check_mode(kwargs["mode"])
        if analysis == "ablate" and "heads" in kwargs:
            ablation._check_heads(model, kwargs["heads"])
    return {}


def _shape(model: Any, analysis: str, text: Any, kwargs: dict[str, Any]) -> tuple[int, int]:
    """(tokens per row, rows) that ``analysis`` runs on ``text`` with these keywords."""
    if isinstance(text, int) and not isinstance(text, bool):
        return checks.integer("text_or_T", text, low=1, high=model.n_ctx), 1
    if not isinstance(text, str) and not hasattr(text, "shape"):
        raise InputError(
            f"text_or_T must be a text, token ids or a number of tokens, got {type(text).__name__}"
        )
    from interp.models.frame import frame as _frame
    from interp.models.reading import read

    unknown = checks.flag("allow_unknown", kwargs.get("allow_unknown", False))
    if analysis == "attention":
        f = _frame(model, text, position=kwargs.get("position"), allow_unknown=unknown, require_read=False)
        return f.T, 1
    given = {k: kwargs.get(k) for k in ("answer", "contrast")}
    if kwargs.get("objective") is not None:
        return read(model, text, objective=kwargs["objective"], allow_unknown=unknown, **given).frame.T, 1
    reading = read(model, text, position=kwargs.get("position"), allow_unknown=unknown, **given)
    f, a, contrast = reading.frame, reading.answer or (0,), reading.contrast
    if analysis in ("logit_lens", "decompose"):
        return f.T, 1
    if analysis == "patch" and contrast is None:
        contrast = (0,)  # patching always has a contrast (the corrupt run's top-1 by default)
    return rows_of(model, f.T, a, contrast)


def rows_of(model: Any, T: int, answer: Any, contrast: Any) -> tuple[int, int]:
    """(tokens per row, rows) of the target scoring ``answer`` [- ``contrast``] (token id tuples; None: one
    token, or no contrast) at a frame of ``T`` tokens: a causal answer of several tokens continues the row, a
    side of several tokens (or a masked slot of another length) gets a row of its own."""
    a, c = tuple(answer or (0,)), tuple(contrast or ())
    rows = 1 if not c or (len(a) == 1 and len(c) == 1) else 2
    extra = max(len(a), len(c)) - 1 if model.kind == "causal" else max(0, len(c) - len(a))
    return T + extra, rows


__all__ = ["estimate_memory"]
