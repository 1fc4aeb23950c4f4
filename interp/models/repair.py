"""Hooks that an interrupted clean-up left behind: found, and removed, on the next forward pass.

Every module's hooks are recorded right after loading (:class:`EngineState`). A hook that is not in that
record is interp's own (tagged with the context that added it: it stays while that context's ``with``
statement runs), captum's (it stays while a captum call runs), or someone else's (kept, except by
:meth:`interp.Model.reset`).
"""

from __future__ import annotations

import sys
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interp.models.handle import Model

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_EXTRA_DICTS = (
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks_with_kwargs",
)
TRANSIENT = (  # code flags of frames whose liveness cannot be read off the call stack
    0x20 | 0x80 | 0x100 | 0x200  # CO_GENERATOR, CO_COROUTINE, CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR
)


class EngineState:
    """Per-bridge bookkeeping: every module's hooks right after load, and the hook contexts now open."""

    def __init__(self, bridge: Any):
        self.dicts: list[tuple[Any, dict, frozenset]] = []
        for module in bridge.modules():
            for attr in _HOOK_DICTS:
                d = getattr(module, attr, None)
                if d is not None:
                    self.dicts.append((module, d, frozenset(d)))
        self.baseline = sum(len(keys) for _, _, keys in self.dicts)
        self._plain = [d for _, d, _ in self.dicts]
        self.open: weakref.WeakSet[Any] = weakref.WeakSet()

    @classmethod
    def of(cls, bridge: Any) -> EngineState:
        """The state recorded for ``bridge`` (recorded now if it has none)."""
        state = vars(bridge).get("_interp_engine")
        if state is None:
            state = cls(bridge)
            object.__setattr__(bridge, "_interp_engine", state)
        return state

    @staticmethod
    def recorded(bridge: Any) -> EngineState | None:
        """The state recorded for ``bridge``, or None before its first forward pass."""
        return vars(bridge).get("_interp_engine")

    def count(self) -> int:
        return sum(map(len, self._plain))

    def extra(self) -> list[tuple[Any, dict, Any, Any]]:
        """(module, dict, key, fn) for every hook that was not there at load."""
        found = []
        for module, d, keys in self.dicts:
            if len(d) != len(keys) or not keys.issuperset(d):
                found.extend((module, d, k, fn) for k, fn in list(d.items()) if k not in keys)
        return found


def _remove(module: Any, d: dict, key: Any) -> None:
    d.pop(key, None)
    for attr in _EXTRA_DICTS:
        getattr(module, attr, {}).pop(key, None)


def _live_frames() -> set[int]:
    """Ids of every frame now executing, in every thread."""
    ids = set()
    for top in sys._current_frames().values():
        f = top
        while f is not None:
            ids.add(id(f))
            f = f.f_back
    return ids


def _captum_running() -> bool:
    """Whether a captum call is executing in some thread (captum's layer hooks live only inside one)."""
    for top in sys._current_frames().values():
        f = top
        while f is not None:
            if str(f.f_globals.get("__name__", "")).startswith("captum."):
                return True
            f = f.f_back
    return False


def _is_engine_wiring(fn: Any) -> bool:
    """A lasting hook that the bridge wires into its own components (kept by :meth:`Model.reset`)."""
    fn = getattr(fn, "func", fn)
    module = str(getattr(fn, "__module__", "") or "")
    return (
        module.startswith("transformer_lens.model_bridge") and getattr(fn, "__interp_owner__", None) is None
    )


def _is_captum(fn: Any) -> bool:
    fn = getattr(fn, "func", fn)  # functools.partial
    return str(getattr(fn, "__module__", "") or "").startswith("captum.")


def sweep(model: Model, *, everything: bool = False) -> int:
    """Remove hooks that an interrupted clean-up left behind; return how many were removed.

    Ours go once the context that added them has ended; captum's (its layer attributions attach forward hooks
    for the length of one call) once no captum call is running, or, while one runs, all but the newest on each
    module. Hooks of unknown origin are kept, unless ``everything`` (:meth:`Model.reset`): then every hook
    added since load goes (the bridge's own wiring of its components excepted), and every open context is
    closed.
    """
    state = EngineState.of(model.bridge)
    opened = list(state.open)
    if not everything and state.count() == state.baseline + sum(a.n_attached for a in opened):
        if not opened:
            return 0  # the common case: nothing attached but what was there at load
        live = _live_frames()
        if all(a.is_live(live) for a in opened):
            return 0
    extra = state.extra()
    if everything:
        for att in opened:
            att.close()
        removed = 0
        for module, d, key, fn in extra:
            if not _is_engine_wiring(fn):
                _remove(module, d, key)
                removed += 1
        _reset_lens_handles(model)
        return removed
    live = _live_frames()
    removed = 0
    captum: dict[int, list[tuple[Any, dict, Any]]] = {}
    for module, d, key, fn in extra:
        owner = getattr(fn, "__interp_owner__", None)
        if owner is not None:
            att = owner()
            if att is None or not att.is_live(live):
                _remove(module, d, key)
                removed += 1
        elif _is_captum(fn):
            captum.setdefault(id(d), []).append((module, d, key))
    if captum:
        running = _captum_running()
        for hooks in captum.values():
            hooks.sort(key=lambda h: h[2])  # torch's handle ids grow: the newest hook comes last
            for module, d, key in hooks if not running else hooks[:-1]:
                _remove(module, d, key)
                removed += 1
    for att in opened:
        if not att.is_live(live):
            att.close()
    return removed


def _reset_lens_handles(model: Model) -> None:
    """TransformerLens's own bookkeeping of hooks added through ``bridge.hooks``/``add_hook``, emptied."""
    for hp in set(model.bridge.hook_dict.values()):
        for attr in ("fwd_hooks", "bwd_hooks"):
            handles = getattr(hp, attr, None)
            if handles:
                handles[:] = [h for h in handles if getattr(h, "is_permanent", False)]
        if getattr(hp, "ctx", None):
            hp.ctx = {}
    if hasattr(model.bridge, "context_level"):
        object.__setattr__(model.bridge, "context_level", 0)


def strip(hooks: list[tuple[Any, Any]], keys: list[tuple[Any, int]], *, scan: bool = True) -> None:
    """Remove an attachment's hooks: by their recorded keys, and (``scan``) by identity."""
    for point, key in keys:
        _remove(point, point._forward_hooks, key)
    if scan:
        for point, torch_hook in hooks:
            for key in [k for k, fn in point._forward_hooks.items() if fn is torch_hook]:
                _remove(point, point._forward_hooks, key)
