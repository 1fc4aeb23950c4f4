"""The base class of every result (serialisation, display hooks, a compact repr) and ``load_result``."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interp.errors import InputError

_REGISTRY: dict[str, type[Result]] = {}
FORMAT_VERSION = 2
"""2: the reading rule (read positions, top-1 tokens, answer token ids) and the renamed masses
(``attn_past_mass``/``attn_future_mass``, ``attr_left_mass``/``attr_right_mass``)."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


@dataclass(frozen=True, repr=False)
class Result:
    """Base class: serialisation, display hooks and a compact repr."""

    model_name: str
    """The model's name (zoo name, folder name or hub id)."""
    kind: str
    """``"causal"`` or ``"bidirectional"``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

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
    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.json``: settings, tokens, scalars) and ``path`` with ``.npz`` (arrays)."""
        from interp import __version__

        path = Path(path).with_suffix(".json")
        arrays: dict[str, np.ndarray] = {}
        meta = {"format": FORMAT_VERSION, "interp_version": __version__, "result": _encode(self, "", arrays)}
        np.savez_compressed(path.with_suffix(".npz"), **arrays)
        path.write_text(json.dumps(meta, indent=1))
        return path


def _encode(value: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, Result):
        fields = {
            f.name: _encode(getattr(value, f.name), f"{prefix}{f.name}.", arrays)
            for f in dataclasses.fields(value)
        }
        return {"__result__": type(value).__name__, "fields": fields}
    if isinstance(value, np.ndarray):
        key = prefix.rstrip(".") or "array"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        return {"__dict__": {k: _encode(v, f"{prefix}{k}.", arrays) for k, v in value.items()}}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, f"{prefix}{i}.", arrays) for i, v in enumerate(value)]}
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    return value


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict):
        if "__result__" in value:
            cls = _REGISTRY[value["__result__"]]
            return cls(**{k: _decode(v, arrays) for k, v in value["fields"].items()})
        if "__array__" in value:
            return arrays[value["__array__"]]
        if "__dict__" in value:
            return {k: _decode(v, arrays) for k, v in value["__dict__"].items()}
        if "__tuple__" in value:
            return tuple(_decode(v, arrays) for v in value["__tuple__"])
        if "__float__" in value:
            return float(value["__float__"])
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def load_result(path: str | Path) -> Result:
    """Read a result written by ``Result.save(path)``."""
    path = Path(path).with_suffix(".json")
    if not path.exists():
        raise InputError(f"no saved result at {path}: pass the path given to result.save(path)")
    meta = json.loads(path.read_text())
    version = meta.get("format") if isinstance(meta, dict) else None
    if version != FORMAT_VERSION:
        if isinstance(version, int) and version < FORMAT_VERSION:
            raise InputError(
                f"{path} was saved by an older interp (format {version}; this one reads {FORMAT_VERSION}): fields "
                "have been renamed since (past_mass -> attn_past_mass, left_mass -> attr_left_mass, ...). Run the "
                "analysis again with this interp and save it anew."
            )
        raise InputError(
            f"{path} has save format {version!r}, which this interp (format {FORMAT_VERSION}) does not know: "
            "upgrade interp to open it"
        )
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return _decode(meta["result"], arrays)


def head_table(**columns: np.ndarray):
    """A pandas DataFrame with one row per (layer, head) from ``(n_layers, n_heads)`` arrays."""
    import pandas as pd

    L, H = next(iter(columns.values())).shape
    rows = {"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L)}
    rows.update({k: v.reshape(-1) for k, v in columns.items()})
    return pd.DataFrame(rows)


def _tokens(tokens: Any) -> tuple[str, ...]:
    return tuple(str(t) for t in tokens)
