"""Hook names and templates, validation, and the interrupt-safe hooks behind :meth:`interp.Model.hooks`.

Names are TransformerLens's (``blocks.{i}.attn.hook_pattern``, ``blocks.{i}.hook_resid_post``, ...), served by
the TransformerBridge; the templates below are the only place interp spells them. A hook function follows
TransformerLens: ``fn(tensor, hook)`` returns None (the activation is kept, edits in place included) or a
tensor of the same shape, dtype and device that replaces it.

Hooks live only inside ``with model.hooks(...)``. They are plain torch forward hooks on the bridge's hook
points, each tagged with the context that added it, so that they can always be found again: the context
removes them on exit, on error and on Ctrl-C; if an interrupt lands inside that clean-up itself, the context's
finaliser and the next forward pass remove what is left (:mod:`interp.models.repair`).
"""

from __future__ import annotations

import difflib
import sys
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch

from interp.errors import HookError, HookNameError, InterpError, echo
from interp.models.repair import TRANSIENT, EngineState, strip, sweep

if TYPE_CHECKING:
    from interp.models.handle import Model

HookFn = Callable[[torch.Tensor, Any], "torch.Tensor | None"]

# ---- hook-name templates: every hook name interp builds is spelled here --------------------------------------

EMBED = "hook_embed"
TOKEN_EMBED = "embed.hook_out"
"""Token embeddings alone, every family (``hook_embed`` is the full embedding output on BERT-like models)."""
RESID_PRE = "blocks.{layer}.hook_resid_pre"
RESID_MID = "blocks.{layer}.hook_resid_mid"
RESID_POST = "blocks.{layer}.hook_resid_post"
ATTN_OUT = "blocks.{layer}.hook_attn_out"
MLP_OUT = "blocks.{layer}.hook_mlp_out"
PATTERN = "blocks.{layer}.attn.hook_pattern"
SCORES = "blocks.{layer}.attn.hook_attn_scores"
Z = "blocks.{layer}.attn.hook_z"
"""Per-head outputs ``(batch, pos, heads, d_head)``, the input of the output projection."""

ACTIVATIONS = {
    "resid_pre": RESID_PRE,
    "resid_mid": RESID_MID,
    "resid_post": RESID_POST,
    "attn_out": ATTN_OUT,
    "mlp_out": MLP_OUT,
}
"""Short names of the per-layer activations that interventions accept -> their templates."""


def name(template: str, layer: int) -> str:
    """``template`` for one block: ``name(RESID_POST, 3) == "blocks.3.hook_resid_post"``."""
    return template.format(layer=layer)


def names(template: str, n_layers: int) -> list[str]:
    """``template`` for every block ``0 .. n_layers - 1``."""
    return [template.format(layer=layer) for layer in range(n_layers)]


def resid_names(model: Model) -> list[str]:
    """The residual stream after the embeddings and after every block (the logit lens's rows)."""
    return [name(RESID_PRE, 0)] + names(RESID_POST, model.n_layers)


def final_resid_name(model: Model) -> str:
    """The residual stream after the last block."""
    return name(RESID_POST, model.n_layers - 1)


# ---- names ---------------------------------------------------------------------------------------------------


_GATES = ("use_attn_result", "use_split_qkv_input", "use_hook_mlp_in", "use_attn_in")
"""The engine's switches for hook points it keeps off (``bridge.set_use_attn_result(True)`` and its siblings)."""


def _table_key(bridge: Any) -> tuple:
    """What the hook-point table depends on: the engine's registry and alias tables (it bumps a global
    generation whenever a component's aliases are re-pointed, as :mod:`interp.models.sublayers` does) and the
    switches that gate hook points. A change to any of them builds the table again."""
    cfg = getattr(bridge, "cfg", None)
    return (
        len(getattr(bridge, "_hook_registry", ()) or ()),
        _alias_generation(),
        len(getattr(bridge, "hook_aliases", None) or ()),
        tuple(getattr(cfg, gate, None) for gate in _GATES),
    )


def _alias_generation() -> int | None:
    try:
        from transformer_lens.model_bridge.generalized_components.base import alias_generation
    except ImportError:  # an engine without the counter: the key still follows the registry and switches
        return None
    return alias_generation()


def hook_points(model: Model, *, include_gated: bool = False) -> Mapping[str, Any]:
    """Every usable hook name (aliases included) -> its HookPoint module, read-only.

    Hook points that the bridge keeps switched off (``attn.hook_result``, ``hook_mlp_in``, ...) are left out
    unless ``include_gated``; ``model.bridge.set_use_attn_result(True)`` and its siblings switch them on.
    The table is built once per model and built again when the engine's registry, its aliases or those
    switches change, and after :meth:`interp.Model.reset` (:func:`forget_points`).
    """
    key = _table_key(model.bridge)
    cached = vars(model).get("_hook_table")
    if cached is None or cached[0] != key:
        every = model.bridge.hook_dict
        gated = model.bridge._gated_hook_reason
        usable = {
            name: hp for name, hp in every.items() if gated(hp.name or name) is None and gated(name) is None
        }
        cached = (key, MappingProxyType(usable), MappingProxyType(every))
        model._hook_table = cached
    return cached[2] if include_gated else cached[1]


def forget_points(model: Model) -> None:
    """Drop the model's cached hook-point table; the next :func:`hook_points` builds it from the engine."""
    vars(model).pop("_hook_table", None)


def check_names(model: Model, names: Iterable[str]) -> list[str]:
    """Return ``names`` as a list; raise :class:`HookNameError` with a suggestion for any unknown one (each
    engine serves its own set of hook points)."""
    return model.engine_impl.check_names(names)


def check_bridge_names(model: Model, names: Iterable[str]) -> list[str]:
    """:func:`check_names` for the bridge engine's hook points."""
    known = hook_points(model)
    if isinstance(names, str):
        raise HookNameError(f"pass hook names as a list, not one string: [{echo(names)}]")
    try:
        names = list(names)
    except TypeError:
        raise HookNameError(f"pass hook names as a list of strings, got {echo(names)}") from None
    for name in names:
        if isinstance(name, str) and name not in known and name in model.bridge.hook_dict:
            setter = model.bridge._gated_hook_reason(name) or model.bridge._gated_hook_reason(
                model.bridge.hook_dict[name].name or name
            )
            raise HookNameError(
                f"the hook point {name!r} is switched off in {model.name}: call "
                f"model.bridge.set_{setter}(True) first"
            )
        if not isinstance(name, str) or name not in known:
            close = difflib.get_close_matches(str(name)[:200], list(known), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise HookNameError(
                f"{model.name} has no hook point {echo(name)}.{hint} "
                f"See model.hook_names() for all {len(known)} names."
            )
    return names


def display_name(model: Model, point: Any) -> str:
    """A hook point's TransformerLens name, with its canonical bridge name where the two differ."""
    aliases = [n for n, hp in model.bridge.hook_dict.items() if hp is point]
    if not aliases:
        return str(point.name)
    return aliases[-1] if len(aliases) == 1 else f"{aliases[-1]} (= {aliases[0]})"


# ---- the hook context -------------------------------------------------------------------------------------


class Attachment:
    """``with Attachment(model, {name: fn}):`` attaches validated hooks for the block (see module docstring)."""

    def __init__(self, model: Model, fns: Mapping[str, HookFn], *, guard: bool = True, checked: bool = False):
        if not isinstance(fns, Mapping):
            raise HookError(
                f"model.hooks() takes a dict {{hook_name: fn}}, got {type(fns).__name__}: "
                "for example model.hooks({'blocks.0.hook_resid_post': fn})"
            )
        if not checked:  # ``checked``: names the caller has just validated (run_with_cache's own hooks)
            check_bridge_names(model, fns)
        points = hook_points(model)
        for hook_name, fn in fns.items():
            if not callable(fn):
                raise HookError(
                    f"the hook for {hook_name!r} is a {type(fn).__name__}, not a function: pass "
                    "fn(tensor, hook) -> tensor or None"
                )
        self.model = model
        self.state = EngineState.of(model.bridge)
        self.closed = False
        self.frame: Any = None
        self.n_attached = 0
        self.keys: list[tuple[Any, int]] = []
        self.finalizer: weakref.finalize | None = None
        owner = weakref.ref(self)
        self.hooks = []
        for hook_name, fn in fns.items():
            torch_hook = _torch_hook(hook_name, points[hook_name], fn, guard=guard)
            torch_hook.__interp_owner__ = owner
            self.hooks.append((points[hook_name], torch_hook))

    def __enter__(self) -> Model:
        if self.frame is not None or self.closed:
            raise HookError("a model.hooks(...) context can be entered only once: call model.hooks() again")
        sweep(self.model)
        self.frame = sys._getframe(1)
        self.state.open.add(self)
        # Should the with statement end without __exit__ running (an interrupt at its very start), the hooks
        # go when this object does; a normal close detaches the finaliser, so no code runs at deallocation.
        self.finalizer = weakref.finalize(self, strip, self.hooks, self.keys)
        self.finalizer.atexit = False
        try:
            for point, torch_hook in self.hooks:
                self.n_attached += 1
                self.keys.append((point, point.register_forward_hook(torch_hook).id))
        except BaseException:
            self.close(scan=True)  # also a hook registered just before the interrupt, not yet in self.keys
            raise
        return self.model

    def __exit__(self, *exc: Any) -> None:
        try:
            self.close()
        finally:
            self.close()  # again, in case an interrupt cut the first pass short

    def close(self, *, scan: bool = False) -> None:
        """Remove every hook this context added (idempotent). ``scan`` looks for them by their tag rather than
        by the keys recorded when they were added."""
        self.closed = True
        strip(self.hooks, self.keys, scan=scan)
        if self.finalizer is not None:
            self.finalizer.detach()
        self.n_attached = 0
        self.state.open.discard(self)
        self.frame = None

    def is_live(self, live_frames: set[int]) -> bool:
        """Open and its ``with`` statement still running (a generator's frame counts as running)."""
        if self.closed or self.frame is None:
            return False
        return bool(self.frame.f_code.co_flags & TRANSIENT) or id(self.frame) in live_frames


def _torch_hook(hook_name: str, point: Any, fn: HookFn, *, guard: bool) -> Callable[..., Any]:
    """A torch forward hook calling ``fn(activation, hook_point)`` the way TransformerLens does (with the hook
    point's shape conversion), checking what it returns."""

    def torch_hook(module: Any, inputs: Any, output: Any) -> Any:
        conversion = point.hook_conversion
        value = conversion.convert(output) if conversion is not None else output
        if not guard:
            result = fn(value, point)
        else:
            try:
                result = fn(value, point)
            except InterpError:
                raise
            except Exception as err:
                raise HookError(
                    f"the hook function on {hook_name!r} raised {type(err).__name__}: {echo(str(err))[1:-1]}. "
                    "The hooks were removed; fix the function and run again."
                ) from err
            if result is not None:
                _check_returned(hook_name, value, result)
        if result is None:
            return None
        return conversion.revert(result) if conversion is not None else result

    return torch_hook


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}, dtype {value.dtype} on {value.device}"
    kind = type(value).__name__
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def _check_returned(hook_name: str, given: Any, result: Any) -> None:
    """A hook may return None or a replacement exactly like the activation it was given."""
    if isinstance(given, torch.Tensor):
        ok = (
            isinstance(result, torch.Tensor)
            and result.shape == given.shape
            and result.dtype == given.dtype
            and result.device == given.device
        )
    else:
        ok = type(result) is type(given)
    if not ok:
        raise HookError(
            f"the hook function on {hook_name!r} returned {_describe(result)}, but it must return None or "
            f"{_describe(given)} (the activation it was given). Return None to keep the activation (edits in "
            "place count), or a replacement of that shape, dtype and device. The hooks were removed."
        )


def attached(model: Model, fns: Mapping[str, HookFn]) -> Attachment:
    """``with attached(model, {name: fn}):`` -- names are validated before anything is added."""
    return Attachment(model, fns)


def run_attached(
    model: Model,
    fns: Mapping[str, HookFn],
    run: Callable[[], Any],
    *,
    grad: bool | None = None,
    guard: bool = True,
    checked: bool = False,
) -> Any:
    """``run()`` with ``fns`` attached (and gradients switched on or off if ``grad`` is not None).

    Unlike a ``with`` block, whose ``__exit__`` an interrupt can pre-empt, the clean-up here runs in this
    frame's ``finally`` twice, so that a Ctrl-C landing anywhere, the clean-up included, leaves nothing
    attached and the gradient mode as it was (``torch._C._set_grad_enabled`` is one C call).
    """
    att = Attachment(model, fns, guard=guard, checked=checked)
    before = torch.is_grad_enabled()
    try:
        if grad is not None:
            torch._C._set_grad_enabled(grad)
        att.__enter__()
        return run()
    finally:
        try:
            att.close()
        finally:
            try:
                att.close()
            finally:
                torch._C._set_grad_enabled(before)


# ---- helpers for the Model handle ---------------------------------------------------------------------------


class StopForward(InterpError):
    """Raised by a hook to end a forward pass early (caught by ``run_with_cache``; never reaches users)."""


def stopping(
    model: Model, fns: dict[str, HookFn], name: str, seen: dict[str, Any], *, checked: bool = False
) -> dict[str, HookFn]:
    """``fns`` plus a stop after hook point ``name`` (after any function already attached there); the
    activation there is kept in ``seen["last"]``, the last thing the forward pass computed. ``checked``: the
    caller has validated ``name``."""
    if not checked:
        check_bridge_names(model, [name])
    points = hook_points(model)
    key = next((k for k in fns if points[k] is points[name]), name)
    inner = fns.get(key)

    def stop(tensor: Any, hook: Any) -> None:
        if inner is not None:
            inner(tensor, hook)
        seen["last"] = (name, tensor)
        raise StopForward(name)

    return {**fns, key: stop}


def caching_hooks(model: Model, names: list[str], cache: dict[str, torch.Tensor]) -> dict[str, HookFn]:
    """One hook per distinct hook point, storing its output under every requested name (aliases share)."""
    points = hook_points(model)
    groups: dict[int, list[str]] = {}
    for name in names:
        groups.setdefault(id(points[name]), []).append(name)
    device = model.device  # a model spread over GPUs: activations are gathered where analyses combine them

    def store(keys: list[str]) -> HookFn:
        def fn(tensor: Any, hook: Any) -> None:
            value = tensor[0] if isinstance(tensor, tuple) else tensor
            if isinstance(value, torch.Tensor):
                value = value.detach().to(device)
                for key in keys:
                    cache[key] = value

        return fn

    return {keys[0]: store(keys) for keys in groups.values()}
