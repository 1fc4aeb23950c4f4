"""Fields of a frozen result that may be computed on first read.

An analysis that returns a result few callers read in full (``compare``'s per-model attention and lens, most of
whose readers want only the summary) may give such a field as a :class:`Later`: a function of data it has already
computed, called once, on the first read of the field. The value is then stored and checked like any other
(the field's own class checks its invariants when it is built). Saving, comparing, copying and ``to_dataframe``
read the field, so they see exactly the value an eager result would hold.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from interp.errors import ResultError


class Later:
    """A field's value, computed by ``build()`` on first read. ``known``: facts about the value that are cheap
    to know before it is built (e.g. its ``tokens``), read through :func:`peek` without building it."""

    def __init__(self, build: Callable[[], Any], **known: Any) -> None:
        self.build = build
        self.known = known

    def __getattr__(self, name: str) -> Any:
        known = self.__dict__.get("known", {})
        if name in known:
            return known[name]
        raise AttributeError(name)

    def __deepcopy__(self, memo: dict) -> Any:  # a deep copy holds the value itself, not what builds it
        return copy.deepcopy(self.build(), memo)

    def __reduce__(self) -> tuple[Any, tuple[Any]]:  # so does a pickle (its function may hold a model)
        return _built, (self.build(),)


def _built(value: Any) -> Any:
    return value


class deferred:  # noqa: N801 - used like ``dataclasses.field``
    """A data descriptor for a dataclass field that accepts a :class:`Later`. Without a default: the class's
    ``__init__`` requires the field as usual. Reading it builds a pending value once and checks its type."""

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            raise AttributeError(self.name)  # dataclasses: no default value
        value = obj.__dict__[self.name]
        if isinstance(value, Later):
            value = value.build()
            if not isinstance(value, self.kind):
                raise ResultError(
                    f"{type(obj).__name__}.{self.name} must be {self.kind.__name__}, got {type(value).__name__}"
                )
            obj.__dict__[self.name] = value  # stored once: a frozen instance's own dict, not __setattr__
        return value

    def __set__(self, obj: Any, value: Any) -> None:  # reached only through object.__setattr__ (frozen class)
        obj.__dict__[self.name] = value


def pending(obj: Any, name: str) -> bool:
    """Whether ``obj.name`` is a :class:`Later` not yet built (only a :class:`deferred` field holds one)."""
    return isinstance(obj.__dict__.get(name), Later) and any(
        isinstance(k.__dict__.get(name), deferred) for k in type(obj).__mro__
    )


def peek(obj: Any, name: str) -> Any:
    """``obj.name`` without building it: the value, or its :class:`Later` (whose ``known`` facts read as
    attributes)."""
    return obj.__dict__[name] if name in obj.__dict__ else getattr(obj, name)


__all__ = ["Later", "deferred", "peek", "pending"]
