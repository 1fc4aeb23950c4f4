"""The base class of every result (checks, persistence, display hooks, a compact repr) and ``load_result``.

Every field is checked against its type annotation when a result is built, before the class's own
``__post_init__`` checks its invariants: strings, ints (never bools), floats, tuples, dicts, nested results, and numpy arrays of a
plain dtype (bool, integer, float or string; never object) whose floats are finite unless the class names
the field in ``allow_nan``. ``Annotated[np.ndarray, "iu"]`` narrows an array to those dtype kinds.

``result.save(path)`` and :func:`load_result` are in :mod:`interp.results.persist`: one ``.npz`` file at exactly
``path``, written atomically and read back strictly.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np

from interp.errors import ResultError, echo
from interp.results.lazy import pending

_REGISTRY: dict[str, type[Result]] = {}

FORMAT_VERSION = 3
"""The save format. 1: a ``.json`` and a ``.npz`` side by side (interp 0.1). 2: one ``.npz`` file holding its
JSON; the reading rule (read positions, top-1 tokens, answer token ids) and the renamed masses
(``attn_past_mass``/``attn_future_mass``, ``attr_left_mass``/``attr_right_mass``). 3: the model's revision
(format 2 files load with ``revision`` None)."""

IntArray = Annotated[np.ndarray, "iu"]
"""An array of integers (token ids, ranks, positions)."""
BoolArray = Annotated[np.ndarray, "b"]
"""An array of bools."""
StrArray = Annotated[np.ndarray, "U"]
"""An array of strings (token strings)."""

_ARRAY_KINDS = "biufU"  # bool, signed and unsigned integers, floats, unicode strings


def _results_equal(a: Any, b: Any) -> bool:
    """Two results are equal when they are of one class and every field holds the same values (arrays of the
    same shape, kind and values, NaN equal to NaN)."""
    if type(a) is not type(b):
        return NotImplemented
    return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))


def _unhashable(self: Any) -> int:
    raise TypeError(f"unhashable type: {type(self).__name__!r} (results compare by value, as arrays do)")


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or (x.dtype.kind in "fc") != (y.dtype.kind in "fc"):
            return False
        return bool(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return type(x) is type(y) and len(x) == len(y) and all(_same(i, j) for i, j in zip(x, y))
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return bool(x == y)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ResultError(message)


@dataclass(frozen=True, repr=False)
class Result:
    """Base class: field checks, persistence, display hooks and a compact repr."""

    model_name: str
    """The model's name (zoo name, folder name or hub id)."""
    kind: str
    """``"causal"`` or ``"bidirectional"``."""
    revision: str | None = dataclasses.field(default=None, kw_only=True)
    """The model's revision (the hub snapshot's commit) where it is known; None otherwise."""

    allow_nan: ClassVar[tuple[str, ...]] = ()
    """Fields whose float arrays may hold NaN or infinities (every other float array must be finite)."""
    kinds: ClassVar[tuple[str, ...]] = ("causal", "bidirectional")
    """The values ``kind`` may take."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls
        # Set before @dataclass runs, which then keeps them: its own __eq__ compares array fields with ==
        # (an error for arrays of more than one value), and its __hash__ would hash the arrays.
        cls.__eq__ = _results_equal  # type: ignore[method-assign]
        cls.__hash__ = _unhashable  # type: ignore[assignment]  # equal by value, so not hashable (as an array)
        own = cls.__dict__.get("__post_init__")
        if own is not None and not getattr(own, "_checks_fields", False):

            def __post_init__(self: Result) -> None:
                _check_fields(self)
                own(self)

            __post_init__._checks_fields = True  # type: ignore[attr-defined]
            __post_init__.__doc__ = own.__doc__
            cls.__post_init__ = __post_init__  # type: ignore[method-assign]

    def __post_init__(self) -> None:
        _check_fields(self)

    # ---- display ----
    def __repr__(self) -> str:
        return self.summary_text()

    def summary_text(self) -> str:
        return f"{type(self).__name__}({self.model_name}, {self.kind})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": self.summary_text()}
        try:
            import widgets

            widget = widgets.view(self)
            view_bundle = dict(widget._repr_mimebundle_(include=include, exclude=exclude) or {})
            view_bundle.pop("text/plain", None)  # keep the summary: the widget's repr is noise in plain text
            bundle.update(view_bundle)
        except Exception as err:  # a view must never break printing the result
            bundle["text/plain"] += f"\n(view unavailable: {type(err).__name__}: {err})"
        return bundle

    # ---- persistence ----
    def save(self, path: str | os.PathLike) -> Path:
        """Write this result to exactly ``path`` as one ``.npz`` file; return the path.

        Missing parent folders are created. The file is written next to ``path`` under a temporary name and
        renamed over it at the end, so ``path`` always holds either the old file or the complete new one.
        """
        from interp.results.persist import save

        return save(self, path)


# ---- field checks ---------------------------------------------------------------------------------------------

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return _HINTS[cls]


def _check_fields(result: Result) -> None:
    """Check (and normalise: lists to tuples, numpy scalars to Python's, float16 arrays to float32) every field
    against its annotation, then the invariants every result shares: ``kind`` from :attr:`Result.kinds`,
    probabilities (fields named ``..._prob``/``..._probs``/``prob_...``) in [0, 1], ranks non-negative."""
    cls = type(result)
    hints = _hints(cls)
    for f in dataclasses.fields(result):
        if pending(result, f.name):  # built on first read (interp.results.lazy), then checked by its class
            continue
        where = f"{cls.__name__}.{f.name}"
        nan_ok = f.name in cls.allow_nan
        value = _conform(getattr(result, f.name), hints[f.name], where, nan_ok)
        # results hold float32 or float64 (half precision is the model's); a plain array field holds floats
        if isinstance(value, np.ndarray) and value.dtype == np.float16:
            value = value.astype(np.float32)
        elif _plain_array(hints[f.name]) and isinstance(value, np.ndarray) and value.dtype.kind in "biu":
            value = value.astype(np.float64)
        if _PROBABILITY.search(f.name):
            _in_unit_interval(value, where, nan_ok)
        elif _RANK.search(f.name) and isinstance(value, np.ndarray):
            _check(not value.size or bool(value.min() >= 0), f"{where} holds negative ranks")
        object.__setattr__(result, f.name, value)
    _check(
        result.kind in cls.kinds,
        f"{cls.__name__}.kind must be one of {', '.join(map(repr, cls.kinds))}, got {echo(result.kind, 60)}",
    )


def _plain_array(hint: Any) -> bool:
    """Whether ``hint`` is ``np.ndarray`` itself (or Optional of it), not an annotated id/flag/string array."""
    if hint is np.ndarray:
        return True
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and np.ndarray in typing.get_args(hint)


_PROBABILITY = re.compile(r"(^|_)probs?(_|$)")
_RANK = re.compile(r"(^|_)ranks?(_|$)")
_SLACK = 1e-4  # float32 softmax and exp(sum of log-probabilities) land a few ulps outside [0, 1]


def _in_unit_interval(value: Any, where: str, nan_ok: bool) -> None:
    if isinstance(value, float):
        values = np.array([value])
    elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
        values = value
    else:
        return
    if nan_ok:
        values = values[~np.isnan(values)]
    ok = bool(np.all((values >= -_SLACK) & (values <= 1 + _SLACK))) if values.size else True
    _check(
        ok,
        f"{where} must hold probabilities in [0, 1]; it holds values from {values.min():.4g} to {values.max():.4g}",
    )


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _conform(value: Any, hint: Any, where: str, nan_ok: bool) -> Any:
    """``value`` as the annotation ``hint`` wants it; ResultError if it cannot be."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin is typing.Annotated:
        base, kinds = args[0], "".join(a for a in args[1:] if isinstance(a, str))
        value = _conform(value, base, where, nan_ok)
        if kinds and isinstance(value, np.ndarray) and value.dtype.kind not in kinds:
            raise ResultError(f"{where} must be an array of dtype kind {kinds!r}, got {value.dtype}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _conform(value, arg, where, nan_ok)
            except ResultError as err:
                errors.append(str(err))
        raise ResultError(
            errors[0] if len(errors) == 1 else f"{where} must be {_name(hint)}, got {_kind(value)}"
        )
    if hint is str:
        if isinstance(value, str):
            return str(value)
    elif hint is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
    elif hint is int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return int(value)
    elif hint is float:
        if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
            return float(value)
    elif hint is np.ndarray:
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in _ARRAY_KINDS:
                raise ResultError(f"{where} must hold bools, numbers or strings, not dtype {value.dtype}")
            if value.dtype.kind == "f" and not nan_ok and value.size and not np.isfinite(value).all():
                raise ResultError(f"{where} holds NaN or infinite values")
            return value
    elif isinstance(hint, type) and issubclass(hint, Result):
        if isinstance(value, hint):
            return value
    elif origin is tuple or hint is tuple:
        if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in _ARRAY_KINDS:
            value = value.tolist()
        if isinstance(value, (tuple, list)):
            if not args:
                return _frozen(value)
            if len(args) == 2 and args[1] is Ellipsis:
                if args[0] is str and all(type(v) is str for v in value):
                    return tuple(value)  # already what the element check would return
                return tuple(_conform(v, args[0], f"{where}[{i}]", nan_ok) for i, v in enumerate(value))
            if len(args) == len(value):
                return tuple(
                    _conform(v, a, f"{where}[{i}]", nan_ok) for i, (v, a) in enumerate(zip(args, value))
                )
    elif origin is dict or hint is dict:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            if not args:
                return value
            return {k: _conform(v, args[1], f"{where}[{k!r}]", nan_ok) for k, v in value.items()}
    elif origin is list or hint is list:
        if isinstance(value, (list, tuple)):
            return (
                [_conform(v, args[0], f"{where}[{i}]", nan_ok) for i, v in enumerate(value)]
                if args
                else list(value)
            )
    else:
        return value  # an annotation these checks do not cover: the class's own invariants decide
    raise ResultError(f"{where} must be {_name(hint)}, got {_kind(value)}")


def _frozen(value: Any) -> Any:
    """Lists inside a bare ``tuple`` field become tuples (as the class would have written them)."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype}"
    return f"{type(value).__name__} {echo(value, 60)}"


def load_result(path: str | os.PathLike) -> Result:
    """Read a result written by ``result.save(path)``; ResultError for anything else.

    Nothing is unpickled. The save-format version is checked (a newer one: upgrade interp), every field's
    type is checked, and the result is built through its class's own invariants, so a damaged or edited file
    is refused rather than half-read.
    """
    from interp.results.persist import load

    return load(path)


HEAD_COLUMN = "head_index"
"""The head's column in every table: not ``head``, which would shadow ``DataFrame.head`` (``df[df.head == 2]``
compares the method with 2 and is silently empty)."""


def head_table(**columns: np.ndarray):
    """A pandas DataFrame with one row per (layer, head) from ``(n_layers, n_heads)`` arrays: columns ``layer``,
    ``head_index`` (:data:`HEAD_COLUMN`), then ``columns``."""
    import pandas as pd

    L, H = next(iter(columns.values())).shape
    rows = {"layer": np.repeat(np.arange(L), H), HEAD_COLUMN: np.tile(np.arange(H), L)}
    rows.update({k: v.reshape(-1) for k, v in columns.items()})
    return pd.DataFrame(rows)


def _tokens(tokens: Any) -> tuple[str, ...]:
    return tuple(str(t) for t in tokens)
