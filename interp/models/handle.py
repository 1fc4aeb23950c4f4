"""The :class:`Model` handle: one causal or bidirectional LM, its tokenizer and its named hook points."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from interp import checks
from interp.errors import EngineError, InputError, NoLMHeadError, echo
from interp.models import engine as _engine
from interp.models import hooks as _hooks
from interp.models import nonfinite as _nan
from interp.models.frame import Frame, check_slots
from interp.models.frame import framed as _framed
from interp.models.frame import tokenize as _tokenize
from interp.models.writing import answer_ids, display_tokens

KINDS = ("causal", "bidirectional")
DIFFUSION_TYPES = frozenset({"llada", "dream"})
"""Model types of masked LMs trained to generate by unmasking."""


class Model:
    """A language model reached through TransformerLens hook names.

    Build one with :func:`interp.load` or :func:`interp.wrap`. ``kind`` is ``"causal"`` (each position sees the
    past) or ``"bidirectional"`` (each position sees both sides; a masked LM). ``has_lm_head`` is False for an
    encoder-only checkpoint (``BertModel``, a sentence encoder): it has attention, activations and objectives of
    its final states, but no logits or answers. ``engine_impl`` is the engine that runs it (an
    :class:`interp.models.engine.Engine`; a TransformerBridge passed here gets the default bridge engine), and
    ``bridge`` the engine's own model underneath, for anything this handle does not cover.

    Threads: every analysis holds the model's :attr:`lock` (a reentrant lock) for its whole call, so analyses
    started from two threads (notebook callbacks, background tasks) on one model run one after the other and
    return what they return run alone. Your own ``with model.hooks(...)`` blocks and ``run_with_cache`` calls
    are not serialised for you: hold ``with model.lock:`` around them when another thread may use the model.
    """

    def __init__(
        self,
        engine: Any,
        tokenizer: Any,
        *,
        name: str,
        kind: str,
        revision: str | None = None,
        has_lm_head: bool = True,
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        if not isinstance(engine, _engine.Engine):  # a TransformerBridge: the default engine
            from interp.models.bridge_engine import BridgeEngine

            engine = BridgeEngine(engine)
        self.engine_impl: _engine.Engine = engine
        """The engine behind this handle (:mod:`interp.models.engine`); analyses reach it through the handle."""
        self.tokenizer = tokenizer
        self.name = name
        self.kind = kind
        self.revision = revision
        self.has_lm_head = bool(has_lm_head)
        cfg = engine.cfg
        self.n_layers: int = int(cfg.n_layers)
        self.n_heads: int = int(cfg.n_heads)
        self.d_model: int = int(cfg.d_model)
        self.d_vocab: int = int(cfg.d_vocab)
        self.n_ctx: int = int(cfg.n_ctx)
        self._prepend_bos = bool(getattr(cfg, "default_prepend_bos", True))
        self.lock = threading.RLock()
        """Held while an analysis runs on this model: hooks and caches of two threads never mix."""
        engine.bind(self)

    def __repr__(self) -> str:
        return (
            f"Model({self.name!r}, kind={self.kind!r}, n_layers={self.n_layers}, n_heads={self.n_heads}, "
            f"d_model={self.d_model}, d_vocab={self.d_vocab}, n_ctx={self.n_ctx}, device={str(self.device)!r}"
            + ("" if self.has_lm_head else ", has_lm_head=False")
            + ("" if self.engine == "bridge" else f", engine={self.engine!r}")
            + (", remote=True" if self.engine_impl.where == "remotely" else "")
            + ")"
        )

    @property
    def bridge(self) -> Any:
        """The engine's own model underneath (a TransformerBridge by default): the escape hatch for anything
        this handle does not cover."""
        return self.engine_impl.native

    @property
    def engine(self) -> str:
        """The engine's name, as passed to ``interp.load(..., engine=)``: ``"bridge"`` or ``"nnsight"``."""
        return self.engine_impl.name

    @property
    def remote(self) -> bool:
        """Whether the model runs on a server (``interp.load(..., engine="nnsight", remote=True)``): what comes
        back is saved values, and this machine's memory bounds nothing but them."""
        return self.engine_impl.where == "remotely"

    @property
    def capabilities(self) -> frozenset[str]:
        """What the engine offers analyses (names in :data:`interp.models.engine.CAPABILITIES`)."""
        return self.engine_impl.capabilities

    # ---- what the math needs to know (analyses branch on these, never on a family or engine name) ----------

    @property
    def has_causal_mask(self) -> bool:
        """Whether each position sees only the past (a causal LM): a read at a position uses its prefix alone."""
        return self.kind == "causal"

    @property
    def reads_mask_token(self) -> bool:
        """Whether the model reads a slot at a mask token in place of it, with both sides visible (a masked LM)."""
        return self.kind == "bidirectional"

    @property
    def generator(self) -> str:
        """How :func:`interp.generate` fills text: ``"causal"`` (left to right), ``"diffusion"`` (a masked LM
        trained to generate by unmasking: the config's ``objective`` is ``"masked_diffusion"``, as the zoo's
        tiny-diffusion writes it, or a LLaDA/Dream model) or ``"masked"`` (any other masked LM)."""
        if self.has_causal_mask:
            return "causal"
        config = self.config
        diffusion = getattr(config, "objective", None) == "masked_diffusion"
        return (
            "diffusion" if diffusion or getattr(config, "model_type", None) in DIFFUSION_TYPES else "masked"
        )

    @property
    def config(self) -> Any:
        """The Hugging Face config of the model (``model_type``, ``_name_or_path``, ...)."""
        return self.engine_impl.config

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model's weights compute in."""
        return self.engine_impl.dtype

    @property
    def d_mlp(self) -> int:
        """The MLP's hidden width (``4 * d_model`` where the config does not say)."""
        return int(getattr(self.engine_impl.cfg, "d_mlp", None) or 4 * self.d_model)

    @property
    def logit_softcap(self) -> float | None:
        """The cap ``c`` of a model that soft-caps its logits as ``c * tanh(logit / c)`` after the unembedding
        (Gemma 2's ``final_logit_softcapping``), else None."""
        cap = getattr(self.config, "final_logit_softcapping", None)
        if cap is None:
            cap = getattr(self.engine_impl.cfg, "output_logits_soft_cap", None)
        return float(cap) if isinstance(cap, (int, float)) and not isinstance(cap, bool) and cap > 0 else None

    @checks.method_keywords
    def weight(self, role: str, layer: int | None = None) -> Any:
        """A weight by role, whatever the engine calls it (roles: :data:`interp.models.engine.WEIGHT_ROLES`;
        ``W_O`` and ``b_O`` of block ``layer``, the others of the whole model)."""
        role = checks.choice("weight role", role, _engine.WEIGHT_ROLES)
        if role in ("W_O", "b_O"):
            layer = checks.integer("layer", layer, low=0, high=self.n_layers - 1)
        elif layer is not None:
            raise InputError(f"{role} belongs to the whole model, not to a layer: drop layer={echo(layer)}")
        return self.engine_impl.weight(role, layer)

    def hooks_attached(self) -> bool:
        """Whether any hook is attached now besides the engine's own: ``model.hooks()`` blocks, captum's, or one
        registered by hand on ``model.bridge``."""
        return self.engine_impl.hooks_attached()

    def decode_version(self) -> tuple:
        """A key of the weights :meth:`decode_resid` reads (the final norm and unembedding, or the masked-LM
        head): equal for two calls exactly when decoding a stream would give the same logits."""
        from interp.models.versions import weights_key

        return weights_key(self.engine_impl.decode_state())

    def weights_version(self) -> tuple:
        """A key for anything computed from the weights: it changes whenever a weight or buffer is replaced or
        modified, in place or through ``.data`` (see :mod:`interp.models.versions`)."""
        from interp.models.versions import weights_key

        return weights_key(self.state_dict())

    def state_dict(self) -> Mapping[str, torch.Tensor]:
        """The model's weights and buffers by name."""
        return self.engine_impl.state_dict()

    def canonical_hook_name(self, name: str) -> str:
        """The engine's own name of hook point ``name`` (an alias's target; ``name`` itself otherwise)."""
        return self.engine_impl.canonical_name(name)

    def decompose_reader(self) -> Any:
        """decompose's reader of this model's activations and weights, from its engine."""
        return self.engine_impl.decompose_reader()

    def require(self, needs: Iterable[str], analysis: str) -> None:
        """Refuse ``analysis`` with :class:`interp.errors.EngineError`, before any work, if the engine lacks one
        of the capabilities it ``needs`` (:mod:`interp.models.engine`)."""
        message = _engine.refusal(self.engine_impl, analysis, needs)
        if message is not None:
            raise EngineError(message)

    def require_lm_head(self) -> None:
        """Raise :class:`interp.errors.NoLMHeadError`, saying what works instead, if the model has no
        language-model head. Every analysis that reads answers or logits passes through here first."""
        if self.has_lm_head:
            return
        raise NoLMHeadError(
            f"{self.name} has no language-model head (an encoder-only checkpoint), so it has no logits or answers "
            "to read: the logit lens, answer=/contrast=, compare and the model's logits need one. "
            "What works: interp.attention, interp.induction_scores, model.hooks(...) and "
            "model.run_with_cache(...) (the final states are at "
            f"{_hooks.final_resid_name(self)}), and attribute, ablate, head_importance and patch with objective=, "
            "a function of the final residual stream (batch, T, d_model) -> (batch,), e.g. "
            "objective=interp.objectives.similarity(model, 'another text')"
        )

    # ---- tokens -------------------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """Where inputs go and results are combined (the first GPU of a model spread over several devices)."""
        return self.engine_impl.device

    @property
    def mask_token_id(self) -> int | None:
        return self.tokenizer.mask_token_id

    @property
    def special_ids(self) -> set[int]:
        """Ids of [CLS], [SEP], BOS, EOS, [PAD] and the like (the mask token excluded)."""
        ids = set(self.tokenizer.all_special_ids)
        ids.discard(self.mask_token_id)
        return ids

    @checks.method_keywords
    def to_tokens(self, text: str, *, truncate: bool = False) -> torch.Tensor:
        """Token ids ``(1, T)`` in the model's convention.

        Causal models: BOS first where the model expects one, never a trailing special token. Bidirectional
        models: the tokenizer's own frame ([CLS] ... [SEP]). Text longer than the context is an error unless
        ``truncate``. A probe with a ``___`` slot gives the tokens the model reads (:meth:`frame`): the prefix for
        a causal model, a mask in place of the slot for a masked LM; never the slot's underscores as text.
        """
        if not isinstance(text, str):
            raise InputError(f"expected a string of text, got {type(text).__name__}")
        if "__" in text and check_slots(text):
            return self.frame(text).tokens
        if checks.flag("truncate", truncate):
            text = text[: self.n_ctx * checks.MAX_CHARS_PER_TOKEN]  # the rest could never be read
        self.check_length(text)
        return _tokenize(self, text, truncate=truncate)[0]

    @checks.method_keywords
    def check_length(self, text: str, what: str = "the text") -> None:
        """Refuse a text with more characters than the context can hold, before it is tokenized (a cheap bound:
        :data:`interp.checks.MAX_CHARS_PER_TOKEN` characters per token)."""
        checks.text_length(text, self.n_ctx, self.name, what)

    def check_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Validate a ``(1, T)`` or ``(T,)`` id tensor; return it as ``(batch, T)`` on the model's device."""
        if not isinstance(tokens, torch.Tensor) or tokens.dtype not in (torch.long, torch.int, torch.int32):
            raise InputError(
                "tokens must be an integer torch tensor of shape (1, T); use model.to_tokens(text)"
            )
        if tokens.is_meta:  # no values to check or run: a meta tensor only describes a shape
            raise InputError(
                "tokens are on the meta device and hold no ids: pass real token ids (model.to_tokens)"
            )
        if tokens.dim() == 1:
            tokens = tokens[None]
        if tokens.dim() != 2 or tokens.shape[1] == 0 or tokens.shape[0] == 0:
            raise InputError(
                f"tokens must have shape (batch, T) with batch >= 1 and T >= 1, got {tuple(tokens.shape)}"
            )
        T = tokens.shape[1]
        if T > self.n_ctx:
            raise InputError(
                f"the input is {T} tokens long but {self.name} takes at most {self.n_ctx}: "
                f"shorten the text by {T - self.n_ctx} tokens"
            )
        lo, hi = (int(v) for v in torch.aminmax(tokens))  # one pass over the ids, not two
        if lo < 0 or hi >= self.d_vocab:
            raise InputError(f"token ids must lie in [0, {self.d_vocab}); got ids from {lo} to {hi}")
        return tokens.to(self.device)

    def tokens_of(self, text_or_tokens: str | torch.Tensor) -> torch.Tensor:
        if isinstance(text_or_tokens, str):
            return self.to_tokens(text_or_tokens)
        return self.check_tokens(text_or_tokens)

    @checks.method_keywords
    def to_str_tokens(self, text_or_tokens: str | torch.Tensor) -> list[str]:
        """Each token's own decoded text, one per token: spaces as spaces (no ``Ġ`` or ``▁`` markers),
        WordPiece continuations with their ``##``."""
        tokens = self.tokens_of(text_or_tokens)
        if tokens.shape[0] != 1:
            raise InputError(f"pass one sequence of tokens, shape (1, T) or (T,); got {tuple(tokens.shape)}")
        return display_tokens(self, tokens[0].tolist())

    @checks.method_keywords
    def to_single_token(self, word: str | int) -> int:
        """The id of ``word`` as one token in this model's convention; an InputError names the pieces if not."""
        ids = answer_ids(self, word, role="word")
        if len(ids) != 1:
            pieces = [self.tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in ids]
            raise InputError(
                f"{echo(word)} is not one token for {self.name}: it splits into {echo(pieces)}. Pick a word "
                "that is a "
                "single token, or pass a token id."
            )
        return ids[0]

    @checks.method_keywords
    def frame(
        self,
        text: str | torch.Tensor,
        *,
        answer: str | int | list[int] | None = None,
        position: int | None = None,
        allow_unknown: bool = False,
    ) -> Frame:
        """What the model reads of ``text`` and where: tokens ``(1, T)``, read position, slot, display tokens.

        ``text`` is a probe with one ``___`` slot, plain text or token ids. A causal model reads a probe's
        prefix at its last token; a masked LM reads the probe with one mask per token of ``answer`` (one
        without an answer) at the first mask. Plain text is read at the last token (causal) or at its mask
        token. Every analysis frames its input here. Words outside the vocabulary are an error unless
        ``allow_unknown``.
        """
        return _framed(self, text, answer=answer, position=position, allow_unknown=allow_unknown)[0]

    # ---- forward passes and hooks -------------------------------------------------------------------------

    def hook_names(self) -> list[str]:
        """Every hook point's name (TransformerLens names, aliases included), in model order."""
        return self.engine_impl.hook_names()

    @checks.method_keywords
    def hooks(self, fns: Mapping[str, _hooks.HookFn]) -> _hooks.Attachment:
        """Attach ``{hook_name: fn}`` for a ``with`` block; ``fn(tensor, hook)`` returns None (edits in place
        count) or a tensor of the same shape, dtype and device that replaces the activation.

        Every name is validated before any hook is added; all hooks are removed on exit, on error and on
        Ctrl-C, even one that lands inside the clean-up. An exception inside ``fn``, or a return value of
        another shape, dtype or type, surfaces as :class:`interp.errors.HookError` naming the hook point.
        """
        return self.engine_impl.attach(fns)

    def reset(self) -> int:
        """Put the model back as it was right after loading; return how many hooks were removed.

        Every torch hook added since loading goes (interp's, captum's, or one registered by hand on
        ``model.bridge``), TransformerLens's hook bookkeeping is emptied, eval mode and frozen weights are
        restored, ``hook_attn_out``/``hook_resid_mid`` point at the sublayers again
        (:mod:`interp.models.sublayers`) and the hook-point table is rebuilt. interp's own calls never need
        it: hooks an interrupt leaves behind are removed by the next forward pass anyway.
        """
        return self.engine_impl.reset()

    @checks.method_keywords
    def forward(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(batch, T, d_vocab)`` for validated tokens (hooks attached by the caller fire).

        Hooks that an interrupted clean-up left behind are removed first. NaN or infinite logits raise
        :class:`interp.errors.NonFiniteError` naming the first hook point where such values appear. A model
        without a language-model head has no logits: :class:`interp.errors.NoLMHeadError`.
        """
        self.require_lm_head()
        return self._run(tokens, attention_mask)

    def _run(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The forward pass behind :meth:`forward`: the logits, or an encoder's final states (never reported
        as logits)."""
        tokens = self.check_tokens(tokens)
        attention_mask = checks.attention_mask(attention_mask, tokens)
        self.engine_impl.tidy()
        return self._run_checked(tokens, attention_mask)

    def _run_checked(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """:meth:`_run` for tokens and mask already validated, with left-over hooks already swept (a hook
        context sweeps as it opens)."""
        kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
        logits = self._forward(tokens, kwargs)
        if _nan.nonfinite("logits", logits):
            what = "the logits" if self.has_lm_head else "the final states"
            self.engine_impl.nonfinite(what, lambda: self._forward(tokens, kwargs))
        return logits

    def _forward(self, tokens: torch.Tensor, kwargs: dict[str, Any]) -> torch.Tensor:
        """One forward pass of the engine, hooks attached by the caller applied (every pass goes through here)."""
        return self.engine_impl.forward(tokens, kwargs.get("attention_mask"))

    def __call__(self, text_or_tokens: str | torch.Tensor) -> torch.Tensor:
        return self.forward(self.tokens_of(text_or_tokens))

    @checks.method_keywords
    def run_with_cache(
        self,
        text_or_tokens: str | torch.Tensor,
        names: Iterable[str] | None = None,
        *,
        attention_mask: torch.Tensor | None = None,
        stop_after: str | None = None,
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Run once and keep activations: ``(logits (batch, T, d_vocab), {hook_name: tensor})``.

        A model without a language-model head returns None for the logits (its final states are in the cache
        at ``blocks.{n_layers - 1}.hook_resid_post``). ``names=None`` keeps every hook point; a list keeps only those (an empty list keeps none). Runs without
        gradients; tensors are detached. ``attention_mask`` (batch, T) marks real tokens of a padded batch.
        ``stop_after`` names a hook point after which the forward pass stops (logits are then None): the
        vocabulary-sized output is never computed. NaN or infinite values in the last activation computed
        (the logits, or the one at ``stop_after``) raise :class:`interp.errors.NonFiniteError`.
        """
        tokens = self.tokens_of(text_or_tokens)
        attention_mask = checks.attention_mask(attention_mask, tokens)
        engine = self.engine_impl
        names = engine.hook_names() if names is None else engine.check_names(names)
        if stop_after is not None:
            engine.check_names([stop_after])
        logits, cache = engine.run(tokens, attention_mask, names, stop_after)
        return (logits if self.has_lm_head else None), cache

    @checks.method_keywords
    def final_resid(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The residual stream after the last block ``(batch, T, d_model)``, gradients kept (where the engine
        has them); the forward pass stops there, so no vocabulary-sized output is computed."""
        tokens = self.check_tokens(tokens)
        attention_mask = checks.attention_mask(attention_mask, tokens)
        return self.engine_impl.final_resid(tokens, attention_mask)

    @checks.method_keywords
    def logits_at(
        self, tokens: torch.Tensor, position: int, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``(batch, d_vocab)`` at one position, exactly the model's own, without building the
        ``(batch, T, d_vocab)`` output. Hooks attached by the caller fire; gradients follow the caller's mode."""
        tokens = self.check_tokens(tokens)
        T = tokens.shape[1]
        position = checks.integer("position", position, low=-T, high=T - 1)
        return self.decode_resid(self.final_resid(tokens, attention_mask)[:, position])

    # ---- the model's own final stages (used by the logit lens) -------------------------------------------

    @checks.method_keywords
    def decode_resid(self, resid: torch.Tensor) -> torch.Tensor:
        """Logits from a residual stream ``(..., d_model)`` through the model's own final stages (in the model's
        dtype: a stream of another float dtype is converted first); NaN or
        infinite logits raise :class:`interp.errors.NonFiniteError`; a model without a language-model head
        raises :class:`interp.errors.NoLMHeadError`."""
        self.require_lm_head()
        if (
            not isinstance(resid, torch.Tensor)
            or not resid.dtype.is_floating_point
            or resid.dim() == 0
            or resid.shape[-1] != self.d_model
        ):
            raise InputError(
                f"decode_resid takes a float tensor of shape (..., d_model={self.d_model}), got "
                f"{type(resid).__name__}{tuple(resid.shape) if isinstance(resid, torch.Tensor) else ''}"
            )
        if resid.dtype != self.dtype:  # e.g. a float64 stream read from a float32 model: its own final stages
            resid = resid.to(self.dtype)
        logits = self.engine_impl.decode(resid)
        if _nan.nonfinite("logits", logits):
            self.engine_impl.nonfinite("the decoded logits", lambda: self.engine_impl.decode(resid))
        return logits
