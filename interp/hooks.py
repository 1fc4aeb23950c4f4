"""Hook names, validation and the context-managed hooks behind :meth:`interp.Model.hooks`.

Names are TransformerLens's (``blocks.{i}.attn.hook_pattern``, ``blocks.{i}.hook_resid_post``, ...), served by
the TransformerBridge. A hook function follows TransformerLens: ``fn(tensor, hook)`` returns a replacement
tensor or None. Hooks live only inside ``with model.hooks(...)``: they are removed on exit, also on error.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch

from interp.errors import HookError, HookNameError, InterpError

if TYPE_CHECKING:
    from interp.models.handle import Model

HookFn = Callable[[torch.Tensor, Any], "torch.Tensor | None"]


def hook_points(model: Model, *, include_gated: bool = False) -> dict[str, Any]:
    """Every usable hook name (aliases included) -> its HookPoint module.

    Hook points that the bridge keeps switched off (``attn.hook_result``, ``hook_mlp_in``, ...) are left out
    unless ``include_gated``; ``model.bridge.set_use_attn_result(True)`` and its siblings switch them on.
    """
    points = model.bridge.hook_dict
    if include_gated:
        return points
    gated = model.bridge._gated_hook_reason
    return {name: hp for name, hp in points.items() if gated(hp.name or name) is None and gated(name) is None}


def check_names(model: Model, names: Iterable[str]) -> list[str]:
    """Return ``names`` as a list; raise :class:`HookNameError` with a suggestion for any unknown one."""
    known = hook_points(model)
    names = list(names)
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
            close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise HookNameError(
                f"{model.name} has no hook point {name!r}.{hint} "
                f"See model.hook_names() for all {len(known)} names."
            )
    return names


def _guard(name: str, fn: HookFn) -> Callable[..., Any]:
    """Re-raise any exception from ``fn`` as a HookError naming the hook point."""

    def hook_fn(tensor: torch.Tensor, *args: Any, hook: Any = None, **kwargs: Any) -> Any:
        try:
            return fn(tensor, hook if hook is not None else (args[0] if args else None))
        except InterpError:
            raise
        except Exception as err:
            raise HookError(
                f"the hook function on {name!r} raised {type(err).__name__}: {err}. "
                "The hooks were removed; fix the function and run again."
            ) from err

    return hook_fn


@contextmanager
def attached(model: Model, fns: Mapping[str, HookFn]) -> Iterator[Model]:
    """Attach ``{name: fn}`` for the duration of the block; names are validated before anything is added."""
    check_names(model, fns)
    fwd = [(name, _guard(name, fn)) for name, fn in fns.items()]
    with model.bridge.hooks(fwd_hooks=fwd):
        yield model


class StopForward(InterpError):
    """Raised by a hook to end a forward pass early (caught by ``run_with_cache``; never reaches users)."""


def stopping(model: Model, fns: dict[str, HookFn], name: str) -> dict[str, HookFn]:
    """``fns`` plus a stop after hook point ``name`` (after any function already attached there)."""
    check_names(model, [name])
    points = hook_points(model)
    key = next((k for k in fns if points[k] is points[name]), name)
    inner = fns.get(key)

    def stop(tensor: Any, hook: Any) -> None:
        if inner is not None:
            inner(tensor, hook)
        raise StopForward(name)

    return {**fns, key: stop}


def caching_hooks(model: Model, names: list[str], cache: dict[str, torch.Tensor]) -> dict[str, HookFn]:
    """One hook per distinct hook point, storing its output under every requested name (aliases share)."""
    points = hook_points(model)
    groups: dict[int, list[str]] = {}
    for name in names:
        groups.setdefault(id(points[name]), []).append(name)

    def store(keys: list[str]) -> HookFn:
        def fn(tensor: Any, hook: Any) -> None:
            value = tensor[0] if isinstance(tensor, tuple) else tensor
            if isinstance(value, torch.Tensor):
                value = value.detach()
                for key in keys:
                    cache[key] = value

        return fn

    return {keys[0]: store(keys) for keys in groups.values()}
