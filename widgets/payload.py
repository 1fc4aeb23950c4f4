"""Measure what a view sends to the browser, to check that large arrays travel compactly.

A naive attention view (bertviz-style) ships the whole ``(L, H, T, T)`` array as JSON float text. Ours sends
one head at a time (3 decimals) plus pooled thumbnails for the all-heads grid. :func:`attention_payload_bytes`
measures both on a real view: widget states as the frontend receives them when displayed, and the messages
one layer/head change sends.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

CODE_KEYS = ("_esm", "_css", "_plotly_bundle")
"""Widget state entries that carry JavaScript/CSS code (each figure's module loader; plotly.js in the one
library widget that every figure references, see :mod:`widgets.figurewidget`), not data."""


@dataclass(frozen=True)
class Payload:
    """Bytes a view sends, against the same patterns as JSON float text.

    Attributes:
        initial_bytes: data in the widget states when the view is displayed (first tab only).
        all_tabs_bytes: data after every tab has been opened.
        update_bytes: data sent by one layer/head change.
        code_bytes: JavaScript/CSS module text in those states (plotly.js once, ~5 MB, whatever the number
            of figures and the result's size); counted apart from data.
        full_json_bytes: ``json.dumps(patterns.tolist())``, the (L, H, T, T) array as JSON float text.
        rounded_json_bytes: the same array rounded to 3 decimals, as JSON text.
    """

    initial_bytes: int
    all_tabs_bytes: int
    update_bytes: int
    code_bytes: int
    full_json_bytes: int
    rounded_json_bytes: int

    @property
    def ratio(self) -> float:
        """Data of the fully opened view / the full array as JSON float text."""
        return self.all_tabs_bytes / self.full_json_bytes

    @property
    def rounded_ratio(self) -> float:
        """Data of the fully opened view / the full array rounded to 3 decimals as JSON text."""
        return self.all_tabs_bytes / self.rounded_json_bytes


def widget_bytes(root: Any) -> tuple[int, int]:
    """(data bytes, code bytes) of the states of ``root`` and every widget it references, as sent on display."""
    from ipywidgets.widgets.widget import _instances, _remove_buffers

    seen: set[str] = set()
    todo = [root.model_id]
    data = code = 0
    while todo:
        model_id = todo.pop()
        if model_id in seen or model_id not in _instances:
            continue
        seen.add(model_id)
        state = _instances[model_id].get_state()
        for key in CODE_KEYS:
            code += len(str(state.pop(key, "") or "").encode())
        state, _, buffers = _remove_buffers(state)
        text = json.dumps(state, default=str)
        data += len(text.encode()) + sum(memoryview(b).nbytes for b in buffers)
        todo += [part[len("IPY_MODEL_") :] for part in _refs(state)]
    return data, code


def _refs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith("IPY_MODEL_") else []
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _refs(v)]
    return []


@contextmanager
def recording():
    """Record the size of every widget message sent inside the block (yields a list of byte counts)."""
    from ipywidgets import Widget

    sizes: list[int] = []
    original = Widget._send

    def send(self: Any, msg: Any, buffers: Any = None) -> None:
        sizes.append(
            len(json.dumps(msg, default=str).encode()) + sum(memoryview(b).nbytes for b in buffers or [])
        )

    Widget._send = send
    try:
        yield sizes
    finally:
        Widget._send = original


def attention_payload_bytes(result: Any) -> Payload:
    """Measure the bytes :func:`widgets.view` sends for an attention result.

    Args:
        result: an :class:`interp.AttentionResult`.

    Returns:
        A :class:`Payload`; ``ratio`` compares the fully opened view's data with the patterns as JSON text.
    """
    import numpy as np

    from widgets.attention import AttentionView

    view = AttentionView(result)
    initial, code = widget_bytes(view)
    for index in range(1, len(view.tabs.builders)):
        view.tabs.build(index)
    opened, code = widget_bytes(view)
    layer, head = (1, 0) if result.n_layers > 1 else (0, min(1, result.n_heads - 1))
    with recording() as sizes:
        view.show(layer, head)
    return Payload(
        initial_bytes=initial,
        all_tabs_bytes=opened,
        update_bytes=sum(sizes),
        code_bytes=code,
        full_json_bytes=len(json.dumps(result.patterns.tolist()).encode()),
        rounded_json_bytes=len(json.dumps(np.round(result.patterns.astype(np.float64), 3).tolist()).encode()),
    )
