"""Saving and loading results: one ``.npz`` file at exactly the path given, never unpickled.

The file holds the result's arrays, plus its fields' JSON (with the save-format version,
:data:`interp.results.base.FORMAT_VERSION`) as UTF-8 bytes under ``__interp__``. It is written under a temporary
name in the same folder and renamed over ``path`` at the end, so ``path`` always holds the old file or the
complete new one. Loading checks the version, checks every field's JSON type strictly, and builds the result
through the same field checks and class invariants as any other; anything damaged, tampered with or written
by a newer interp is a :class:`~interp.errors.ResultError`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from interp.atomic import write_atomically
from interp.errors import InputError, ResultError, echo
from interp.results.base import _REGISTRY, FORMAT_VERSION, Result, _hints, _kind, _name

OLDEST_READ = 2
"""The oldest save format still read: format 2 lacks only the revision, which then loads as None."""
META = "__interp__"
"""The entry of a saved file that holds its JSON (UTF-8 bytes as a uint8 array)."""

_MAX_META_BYTES = 64 << 20
_MAX_DEPTH = 32
_MAX_ARRAYS = 100_000
_FLOATS = (np.dtype("<f4"), np.dtype("<f8"), np.dtype("=f4"), np.dtype("=f8"))


def save(result: Result, path: str | os.PathLike) -> Path:
    """Write ``result`` to exactly ``path`` (see the module docstring); return the path."""
    from interp import __version__

    target = _path(path)
    if target.is_dir():
        raise InputError(
            f"{_shown(target)} is a folder: pass a file path, such as {_shown(target / 'r.npz')}"
        )
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(result, arrays)
    meta = {"format": FORMAT_VERSION, "interp": __version__, "result": tree}
    text = json.dumps(meta, allow_nan=False, separators=(",", ":"))
    arrays[META] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the folder {_shown(target.parent)}: {err.strerror or err}") from None
    try:
        write_atomically(target, lambda f: np.savez_compressed(f, **arrays))
    except OSError as err:
        raise InputError(f"cannot write {_shown(target)}: {err.strerror or err}") from None
    return target


# ---- encoding -----------------------------------------------------------------------------------------------


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """JSON-able form: results, arrays (by key), tuples, dicts and non-finite floats are tagged."""
    if isinstance(value, Result):
        fields = {f.name: _encode(getattr(value, f.name), arrays) for f in dataclasses.fields(value)}
        return {"__result__": type(value).__name__, "fields": fields}
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise InputError("a result's dict fields must have string keys to be saved")
        return {"__dict__": {k: _encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise InputError(
        f"cannot save a field of type {type(value).__name__}: results hold arrays, numbers and text"
    )


# ---- loading --------------------------------------------------------------------------------------------------


def _path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"a path must be a string or a pathlib.Path, got {type(path).__name__}")
    try:
        p = Path(path).expanduser()
        p.exists()  # a name too long for the file system, or with a NUL byte, fails here, not half-way
    except (TypeError, ValueError, RuntimeError, OSError) as err:
        reason = getattr(err, "strerror", None) or echo(str(err))
        raise InputError(f"{echo(str(path))} is not a usable path: {reason}") from None
    return p


def _shown(path: Path) -> str:
    return echo(str(path))[1:-1] if len(str(path)) > 120 else str(path)


class _Damaged(Exception):
    """Internal: a saved file that does not hold what result.save writes."""


class _Version(ResultError):
    """Internal: a file of another save format."""


def _no_constant(name: str) -> Any:
    raise _Damaged(f"the JSON holds a bare {name}")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Damaged("the JSON repeats a key")
    return out


class _Arrays:
    """The file's arrays, read on first reference (never with pickle); each may be referenced once."""

    def __init__(self, npz: Any):
        self.npz = npz
        self.keys = set(npz.files) - {META}
        self.used: set[str] = set()

    def get(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in self.keys:
            raise _Damaged(f"a field refers to a missing array {echo(key, 40)}")
        if key in self.used:
            raise _Damaged(f"two fields share the array {key!r}")
        self.used.add(key)
        array = self.npz[key]
        if array.dtype.kind == "f" and array.dtype not in _FLOATS:
            # result.save writes float32 and float64 only (a float16 array is made float32 when built): another
            # float dtype is an edit that would pass as the original numbers
            raise _Damaged(f"the array {key!r} is {array.dtype}, which result.save never writes")
        return array


def _decode(value: Any, arrays: _Arrays, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        raise _Damaged(f"the fields nest deeper than {_MAX_DEPTH} levels")
    if isinstance(value, list):
        return [_decode(v, arrays, depth + 1) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "__array__":
            return arrays.get(inner)
        if tag == "__tuple__" and isinstance(inner, list):
            return tuple(_decode(v, arrays, depth + 1) for v in inner)
        if tag == "__dict__" and isinstance(inner, dict):
            return {k: _decode(v, arrays, depth + 1) for k, v in inner.items()}
        if tag == "__float__" and inner in ("nan", "inf", "-inf"):
            return float(inner)
    if set(value) == {"__result__", "fields"} and isinstance(value["fields"], dict):
        cls = _REGISTRY.get(value["__result__"]) if isinstance(value["__result__"], str) else None
        if cls is None:
            raise _Damaged(f"unknown result class {echo(value['__result__'], 60)}")
        return _build(cls, value["fields"], arrays, depth + 1)
    raise _Damaged(f"unexpected JSON object with keys {echo(sorted(value)[:5], 80)}")


def _build(cls: type[Result], encoded: dict[str, Any], arrays: _Arrays, depth: int) -> Result:
    names = {f.name for f in dataclasses.fields(cls)}
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    if set(encoded) - names:
        raise _Damaged(f"{cls.__name__} has no field(s) {echo(sorted(set(encoded) - names)[:5], 80)}")
    if required - set(encoded):
        raise _Damaged(f"{cls.__name__} lacks field(s) {sorted(required - set(encoded))}")
    hints = _hints(cls)
    fields = {}
    for name, raw in encoded.items():
        value = _decode(raw, arrays, depth)
        _strict(value, hints[name], f"{cls.__name__}.{name}")
        fields[name] = value
    try:
        return cls(**fields)
    except ResultError:
        raise
    except Exception as err:  # an invariant that tampered values break in a way the class did not foresee
        raise ResultError(f"{cls.__name__}: {type(err).__name__}: {echo(str(err))[1:-1]}") from None


def _strict(value: Any, hint: Any, where: str) -> None:
    """The decoded JSON is exactly of the annotated type (no float for an int, no bool for a number)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        kinds = "".join(a for a in args[1:] if isinstance(a, str))
        if kinds and isinstance(value, np.ndarray):
            if value.dtype.kind not in kinds:
                raise _Damaged(f"{where} must be an array of dtype kind {kinds!r}, got {value.dtype}")
            return None
        return _strict(value, args[0], where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _strict(value, arg, where)
            except _Damaged:
                pass
        raise _Damaged(f"{where} must be {_name(hint)}, got {_kind(value)}")
    ok = True
    if hint is int:
        ok = type(value) is int
    elif hint is float:
        ok = type(value) is float
    elif hint is str:
        ok = type(value) is str
    elif hint is bool:
        ok = type(value) is bool
    elif hint is np.ndarray:  # a plain array field holds floats (ids, flags and strings are annotated)
        ok = isinstance(value, np.ndarray) and value.dtype.kind == "f"
    elif isinstance(hint, type) and issubclass(hint, Result):
        ok = isinstance(value, hint)
    elif origin is tuple or hint is tuple:
        ok = isinstance(value, tuple)
        if ok and len(args) == 2 and args[1] is Ellipsis:
            for i, v in enumerate(value):
                _strict(v, args[0], f"{where}[{i}]")
    elif origin is dict or hint is dict:
        ok = isinstance(value, dict)
        if ok and len(args) == 2:
            for k, v in value.items():
                _strict(v, args[1], f"{where}[{k!r}]")
    if not ok:
        raise _Damaged(f"{where} must be {_name(hint)}, got {_kind(value)}")
    return None


def load(path: str | os.PathLike) -> Result:
    """Read a result written by ``result.save(path)``; ResultError for anything else.

    Nothing is unpickled. The save-format version is checked (a newer one: upgrade interp), every field's
    type is checked, and the result is built through its class's own invariants, so a damaged or edited file
    is refused rather than half-read.
    """
    from interp import __version__

    p = _path(path)
    if not p.exists():
        raise InputError(f"no saved result at {_shown(p)}: pass the path given to result.save(path)")
    if not p.is_file():
        raise InputError(f"{_shown(p)} is not a file: pass the path given to result.save(path)")
    shown = _shown(p)
    try:
        with open(p, "rb") as f:
            magic = f.read(4)
    except OSError as err:
        raise InputError(f"cannot read {shown}: {err.strerror or err}") from None
    if magic != b"PK\x03\x04":
        old = " (interp 0.1 saved a .json next to a .npz: run the analysis again and save it anew)"
        raise ResultError(f"{shown} is not a result saved by result.save{old if p.suffix == '.json' else ''}")
    try:
        with np.load(p, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile) or META not in npz.files:
                raise _Damaged("it holds no interp metadata")
            if len(npz.files) > _MAX_ARRAYS:
                raise _Damaged(f"it holds {len(npz.files)} arrays")
            declared = sum(info.file_size for info in npz.zip.infolist())
            if declared > _memory_limit():
                raise _Damaged(f"its entries claim {declared} bytes, more than this machine can hold")
            raw = npz[META]
            if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > _MAX_META_BYTES:
                raise _Damaged("its metadata entry is not UTF-8 JSON")
            meta = json.loads(
                raw.tobytes().decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_pairs
            )
            if not isinstance(meta, dict) or set(meta) != {"format", "interp", "result"}:
                raise _Damaged("its metadata lacks the format version, the interp version or the result")
            _check_version(meta, shown, __version__)
            arrays = _Arrays(npz)
            result = _decode(meta["result"], arrays)
            if not isinstance(result, Result):
                raise _Damaged("it holds no result")
            if arrays.used != arrays.keys:
                raise _Damaged(f"it holds {len(arrays.keys - arrays.used)} array(s) that no field refers to")
            return result
    except _Version as err:
        raise ResultError(f"{shown} was {err}") from None
    except ResultError as err:
        raise ResultError(f"{shown} does not hold a valid result: {err}") from None
    except _Damaged as err:
        raise ResultError(f"{shown} is damaged or was edited ({err}): save the result again") from None
    except RecursionError:
        raise ResultError(f"{shown} is damaged or was edited (its JSON nests too deeply)") from None
    except (
        OSError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        IndexError,
        AttributeError,
        UnicodeDecodeError,
        MemoryError,
        zipfile.BadZipFile,
        zlib.error,
    ) as err:
        raise ResultError(
            f"{shown} is damaged or was edited ({type(err).__name__}: {echo(str(err), 120)[1:-1]}): save the "
            "result again"
        ) from None


def _memory_limit() -> int:
    """Half the machine's memory (8 GiB where it cannot be read): the most a saved file may unpack to."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def _check_version(meta: dict[str, Any], shown: str, this: str) -> None:
    version, by = meta["format"], meta["interp"]
    by = by if isinstance(by, str) and len(by) <= 40 else "an unknown version"
    if type(version) is not int or version < 1:
        raise _Damaged(f"its format version {echo(version, 40)} is not one interp writes")
    if version > FORMAT_VERSION:
        raise _Version(
            f"saved by interp {by} (save format {version}); this interp {this} reads format {FORMAT_VERSION}: "
            "upgrade interp to open it"
        )
    if version < OLDEST_READ:
        raise _Version(
            f"saved by interp {by} (save format {version}); this interp {this} reads format {FORMAT_VERSION} and "
            "fields have been renamed since (past_mass -> attn_past_mass, left_mass -> attr_left_mass, ...): run "
            "the analysis again with this interp and save it anew"
        )
