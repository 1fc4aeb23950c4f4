"""The engine interface: what an analysis may ask of the machinery that runs a model.

An engine runs forward passes with hook functions attached, keeps named activations, stops after a hook point,
reads weights by role, decodes residual streams through the model's own final stages and (where it says so)
keeps gradients. :class:`~interp.Model` holds one as ``model.engine_impl`` and delegates to it; analyses reach
an engine only through the handle. Two engines implement :class:`Engine`: :class:`BridgeEngine` (TransformerLens's
``TransformerBridge``, the default) and ``interp.models.nnsight_engine.NNsightEngine``.

Each engine declares its :attr:`Engine.capabilities`, a set of the names below. An analysis declares the ones it
needs; :meth:`interp.Model.require` refuses with :class:`~interp.errors.EngineError`, before any work, when the
engine lacks one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from interp.errors import InputError

# ---- capabilities -----------------------------------------------------------------------------------------------

HOOKS = "hooks"
"""Hook functions attached with ``model.hooks({...})`` read and replace activations in the forward passes."""
CACHE = "cache"
"""``model.run_with_cache`` keeps named activations (attention patterns, residual streams, per-head outputs)."""
STOP_AFTER = "stop_after"
"""A forward pass stops after a named hook point: no vocabulary-sized output is computed."""
GRADIENTS = "gradients"
"""Gradients flow here, through the forward pass, back to the token embeddings (attribution)."""
WEIGHTS = "weights"
"""Weights are read here by role (``W_O`` per head, ``W_U``, the final norm), not only inside a forward pass."""
UNEMBED = "unembed"
"""Residual streams decode through the model's own final norm and unembedding (or masked-LM head)."""
PADDED_BATCHES = "padded_batches"
"""Right-padded batches with an attention mask give each row what its own unpadded run gives (checked against
the model's own forward pass on every supported family)."""
TUNED_LENS = "tuned_lens"
"""Tuned-lens translators are trained and found for this engine's weights (keyed by their hash)."""

CAPABILITIES: dict[str, str] = {
    HOOKS: "hook functions that edit the forward pass",
    CACHE: "cached activations",
    STOP_AFTER: "forward passes that stop after a hook point",
    GRADIENTS: "gradients through the forward pass",
    WEIGHTS: "weights read by role",
    UNEMBED: "decoding residual streams through the model's final stages",
    PADDED_BATCHES: "padded batches checked against the model's own forward pass",
    TUNED_LENS: "tuned-lens translators",
}
"""Every capability name, with the words an :class:`~interp.errors.EngineError` uses for it."""

WEIGHT_ROLES = ("W_O", "b_O", "W_U", "b_U", "encoder_norm")
"""Roles :meth:`Engine.weight` answers: per-layer ``W_O`` ``(n_heads, d_head, d_model)`` and ``b_O``
``(d_model,)`` or None; ``W_U`` ``(d_model, d_vocab)``, ``b_U`` ``(d_vocab,)`` or None; ``encoder_norm`` the norm a
pre-norm encoder applies after its last block (ModernBERT), a module, None where there is none."""


@runtime_checkable
class Engine(Protocol):
    """What :class:`~interp.Model` asks of an engine. Tensors are torch tensors; ``tokens`` are validated
    ``(batch, T)`` ids on :attr:`device`, ``attention_mask`` a validated 0/1 ``(batch, T)`` tensor or None."""

    name: str
    """What users pass as ``engine=`` (``model.engine`` shows it)."""
    capabilities: frozenset[str]
    """The capability names above that this engine has (it may change with where it runs: remote or local)."""
    native: Any
    """The engine's own model object (``model.bridge``, the user's escape hatch)."""
    hf_model: Any
    """The Hugging Face model underneath (on the meta device where the weights live elsewhere)."""
    cfg: Any
    """A config with ``n_layers``, ``n_heads``, ``d_model``, ``d_vocab``, ``n_ctx`` and ``default_prepend_bos``."""

    def bind(self, model: Any) -> None:
        """Called once by the :class:`~interp.Model` that holds the engine (names, kind, tokenizer)."""

    def lacks(self, capability: str) -> str | None:
        """Why the engine lacks ``capability`` here (None: it has it), for the refusal's message."""

    @property
    def where(self) -> str:
        """Where its forward passes run: ``"locally"`` or ``"remotely"``."""

    @property
    def device(self) -> Any:
        """Where inputs go and results are combined."""

    @property
    def dtype(self) -> Any:
        """The dtype its weights compute in."""

    @property
    def config(self) -> Any:
        """The Hugging Face config (``model_type``, ``final_logit_softcapping``, ...)."""

    def hook_names(self) -> list[str]:
        """Every hook point's name, in the order a forward pass reaches them."""

    def check_names(self, names: Iterable[str]) -> list[str]:
        """``names`` validated (HookNameError with a suggestion for one it does not serve)."""

    def canonical_name(self, name: str) -> str:
        """The engine's own name of a hook point (an alias's target), ``name`` itself where it has no other."""

    def attach(self, fns: Mapping[str, Any]) -> AbstractContextManager:
        """Hook functions applied to every forward pass inside the ``with`` block, removed on exit."""

    def tidy(self) -> None:
        """Remove hooks that an interrupted clean-up left behind (called before a forward pass)."""

    def reset(self) -> int:
        """Remove whatever hooks were left attached; return how many."""

    def hooks_attached(self) -> bool:
        """Whether any hook besides the engine's own is attached now (a forward pass may then compute other
        values than the loaded model's: results cached across calls must not be reused)."""

    def forward(self, tokens: Any, attention_mask: Any) -> Any:
        """Logits ``(batch, T, d_vocab)`` (an encoder's final states), attached hooks applied."""

    def run(
        self, tokens: Any, attention_mask: Any, names: list[str], stop_after: str | None
    ) -> tuple[Any, dict]:
        """One forward pass without gradients: ``(logits or None, {name: detached activation})``."""

    def final_resid(self, tokens: Any, attention_mask: Any) -> Any:
        """The residual stream after the last block ``(batch, T, d_model)``, gradients kept where it has them."""

    def decode(self, resid: Any) -> Any:
        """Logits from residual streams ``(..., d_model)`` through the model's own final stages."""

    def weight(self, role: str, layer: int | None = None) -> Any:
        """A weight by role (:data:`WEIGHT_ROLES`), whatever the engine calls it."""

    def state_dict(self) -> Mapping[str, Any]:
        """The model's weights by name (to fingerprint them)."""

    def decode_state(self) -> Mapping[str, Any]:
        """The weights :meth:`decode` reads, by name: a key of them tells whether a decode now would give what
        it gave earlier (the whole :meth:`state_dict` where the engine cannot say)."""

    def parameters(self) -> Iterable[Any]:
        """The model's weight tensors."""

    def decompose_reader(self) -> Any:
        """decompose's reader of this engine (``interp.analysis.decomposition.BridgeReader``'s methods)."""

    def nonfinite(self, what: str, rerun: Any) -> None:
        """Raise NonFiniteError for ``what``, naming where NaN or infinity first appears if it can."""


def refusal(engine: Any, analysis: str, needs: Iterable[str]) -> str | None:
    """The :class:`~interp.errors.EngineError` message for ``analysis`` on ``engine`` (None: it runs)."""
    needs = [needs] if isinstance(needs, str) else list(needs)
    unknown = [n for n in needs if n not in CAPABILITIES]
    if unknown:  # a declaration's typo, not the user's input
        raise InputError(f"unknown capabilities {unknown}: the names are {', '.join(sorted(CAPABILITIES))}")
    have = engine.capabilities
    missing = [n for n in needs if n not in have]
    if not missing:
        return None
    why = [engine.lacks(n) for n in missing]
    reason = "; ".join(w for w in why if w)
    lacks = ", ".join(CAPABILITIES.get(n, n) for n in missing)
    return (
        f"{analysis} is not available with the {engine.name} engine running {engine.where}"
        f"{f' ({reason})' if reason else ''}: it needs {lacks}, which this engine lacks. "
        f"Load the model with engine='bridge' for {analysis}"
    )


__all__ = [
    "CACHE",
    "CAPABILITIES",
    "GRADIENTS",
    "HOOKS",
    "PADDED_BATCHES",
    "STOP_AFTER",
    "TUNED_LENS",
    "UNEMBED",
    "WEIGHTS",
    "WEIGHT_ROLES",
    "Engine",
    "refusal",
]
