"""The default engine: TransformerLens's ``TransformerBridge`` behind the :class:`~interp.models.engine.Engine`
interface.

Hook functions are plain torch forward hooks on the bridge's hook points (:mod:`interp.models.hooks`), removed
on exit, on error and on Ctrl-C; hooks an interrupted clean-up leaves behind are swept before the next forward
pass (:mod:`interp.models.repair`). It has every capability of :data:`interp.models.engine.CAPABILITIES`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from interp.errors import InputError, NonFiniteError
from interp.models import engine as _engine
from interp.models import hooks as _hooks
from interp.models import nonfinite as _nan
from interp.models import placement as _placement
from interp.models import repair as _repair
from interp.models.families import family_of
from interp.models.sublayers import point_sublayer_hooks

if TYPE_CHECKING:
    from interp.models.handle import Model


class BridgeEngine:
    """A TransformerBridge as an :class:`~interp.models.engine.Engine` (``engine="bridge"``)."""

    name = "bridge"
    where = "locally"
    capabilities = frozenset(_engine.CAPABILITIES)

    def __init__(self, bridge: Any):
        self.native = bridge
        self.hf_model = bridge.original_model
        self.cfg = bridge.cfg
        self._model: Any = None
        point_sublayer_hooks(bridge)

    def bind(self, model: Model) -> None:
        self._model = weakref.ref(model)  # the handle owns the engine, not the other way round

    @property
    def model(self) -> Model:
        return self._model()

    def lacks(self, capability: str) -> str | None:
        return None

    # ---- what it is -----------------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return _placement.execution_device(self.hf_model)

    @property
    def dtype(self) -> torch.dtype:
        return _placement.first_parameter(self.hf_model).dtype

    @property
    def config(self) -> Any:
        return self.hf_model.config

    def parameters(self) -> Iterable[torch.Tensor]:
        return self.native.parameters()

    def state_dict(self) -> Mapping[str, torch.Tensor]:
        return self.hf_model.state_dict()

    def decode_state(self) -> Mapping[str, torch.Tensor]:
        if self.model.kind == "causal":
            modules = {"ln_final": self.native.ln_final, "unembed": self.native.unembed}
        else:
            family = family_of(getattr(self.config, "model_type", None))
            paths = family.head if family is not None and family.head else ()
            modules = {path: self.hf_model.get_submodule(path) for path in paths}
        return {f"{where}.{name}": t for where, m in modules.items() for name, t in m.state_dict().items()}

    def weight(self, role: str, layer: int | None = None) -> Any:
        b = self.native
        if role in ("W_O", "b_O"):
            return getattr(b.blocks[layer].attn, role)
        if role == "W_U":
            return b.unembed.W_U
        if role == "b_U":
            return getattr(b.unembed.original_component, "bias", None)
        if role == "encoder_norm":
            return getattr(b, "final_norm", None)
        raise InputError(f"unknown weight role {role!r}: pass one of {', '.join(_engine.WEIGHT_ROLES)}")

    def decompose_reader(self) -> Any:
        from interp.models.bridge_decompose import BridgeReader

        return BridgeReader(self.model)

    # ---- hook points and hooks --------------------------------------------------------------------------------

    def hook_names(self) -> list[str]:
        return list(_hooks.hook_points(self.model))

    def canonical_name(self, name: str) -> str:
        point = _hooks.hook_points(self.model).get(name)
        return (point.name or name) if point is not None else name

    def check_names(self, names: Iterable[str]) -> list[str]:
        return _hooks.check_bridge_names(self.model, names)

    def attach(self, fns: Mapping[str, Any]) -> _hooks.Attachment:
        return _hooks.Attachment(self.model, fns)

    def tidy(self) -> None:
        _repair.sweep(self.model)

    def hooks_attached(self) -> bool:
        state = _repair.EngineState.recorded(self.native)
        return state is not None and state.count() != state.baseline

    def reset(self) -> int:
        model = self.model
        removed = _repair.sweep(model, everything=True)
        self.native.eval()
        for p in self.hf_model.parameters():
            p.requires_grad_(False)
        point_sublayer_hooks(self.native)  # the sublayer names keep their meaning whatever the engine rebuilt
        _hooks.forget_points(model)
        return removed

    # ---- forward passes -----------------------------------------------------------------------------------

    def forward(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        kwargs = {} if attention_mask is None else {"attention_mask": attention_mask.to(self.device)}
        out = self.native(tokens, return_type="logits", **kwargs)
        return out if isinstance(out, torch.Tensor) else out.logits

    def run(
        self,
        tokens: torch.Tensor,
        attention_mask: torch.Tensor | None,
        names: list[str],
        stop_after: str | None,
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        model = self.model
        cache: dict[str, torch.Tensor] = {}
        seen: dict[str, Any] = {}
        fns = _hooks.caching_hooks(model, names, cache)
        if stop_after is not None:
            fns = _hooks.stopping(model, fns, stop_after, seen, checked=True)

        def run() -> torch.Tensor | None:
            try:  # the hook context swept left-over hooks as it opened
                return model._run_checked(tokens, attention_mask)
            except _hooks.StopForward:
                if "last" not in seen:
                    raise  # a stop of the caller's, not ours
                return None

        # The names were validated by Model.run_with_cache, the one caller: not again for every pass.
        logits = _hooks.run_attached(model, fns, run, grad=False, checked=True)
        if "last" in seen and _nan.nonfinite(*seen["last"]):
            rerun = lambda: model._forward(tokens, _kwargs(attention_mask))  # noqa: E731
            self.nonfinite(f"the activations at {seen['last'][0]}", rerun)
        return logits, cache

    def final_resid(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        model = self.model
        name = _hooks.final_resid_name(model)
        box: dict[str, torch.Tensor] = {}

        def grab(tensor: torch.Tensor, hook: Any) -> None:
            box["resid"] = tensor
            raise _hooks.StopForward(name)

        def run() -> None:
            try:
                model._run(tokens, attention_mask=attention_mask)
            except _hooks.StopForward:
                if "resid" not in box:
                    raise  # a stop of the caller's, not ours

        _hooks.run_attached(model, {name: grab}, run)
        # From the last block's GPU to where results are combined, where a model is spread over several.
        resid = box["resid"].to(self.device)
        if _nan.nonfinite(name, resid):
            rerun = lambda: model._forward(tokens, _kwargs(attention_mask))  # noqa: E731
            self.nonfinite(f"the activations at {name}", rerun)
        return resid

    def decode(self, resid: torch.Tensor) -> torch.Tensor:
        b = self.native
        if self.model.kind != "causal":
            return self._mlm_head(resid)
        logits = b.unembed(b.ln_final(resid))
        cap = self.model.logit_softcap
        if cap:  # Gemma 2 soft-caps its logits after the unembedding, as its own forward pass does
            logits = cap * torch.tanh(logits / cap)
        return logits

    def _mlm_head(self, resid: torch.Tensor) -> torch.Tensor:
        family = family_of(getattr(self.config, "model_type", None))
        if family is None or not family.head:
            raise InputError(f"{self.model.name} has no masked-LM head to decode with")
        for path in family.head:  # the family's own modules, so the engine's hooks on them fire
            resid = self.hf_model.get_submodule(path)(resid)
        return resid

    def nonfinite(self, what: str, rerun: Any) -> None:
        model = self.model
        first = _nan.first_nonfinite(model, rerun)
        weights, n = _nan.nonfinite_weights(model)
        where = (
            f"they first appear at hook point {first}"
            if first
            else "no hook point holds them, so they arise in the model's output head"
        )
        if n:
            advice = (
                f"; {n} weight tensor(s) hold NaN or infinite values: {', '.join(weights)}{', ...' if n > 3 else ''}. "
                "Reload or repair the weights (a damaged checkpoint, or a float16 overflow: load with "
                "dtype='float32')."
            )
        else:
            advice = (
                "; the weights are all finite, so a hook function attached there or an overflow made them: fix "
                "the function, or load with dtype='float32'."
            )
        raise NonFiniteError(f"{what} of {model.name} are NaN or infinite: {where}{advice}")


def _kwargs(attention_mask: torch.Tensor | None) -> dict[str, Any]:
    return {} if attention_mask is None else {"attention_mask": attention_mask}


__all__ = ["BridgeEngine"]
