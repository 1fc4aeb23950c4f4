"""A model folder is a closed world: every file read from it is a regular file inside it, of bounded size.

Checked before anything opens a file (interp or transformers): configs, tokenizer files, chat templates,
weights and the shards a safetensors index names, sentence-transformers modules and a hub cache's refs. A
file may be a symbolic link only where it resolves inside one of the allowed roots: the folder itself, or, for
the hub cache's layout, the repo's own ``blobs`` folder. Nothing here opens a file before ``os.stat`` has said
it is a regular one, so a named pipe never blocks and ``/dev/zero`` is never read. Every refusal is an
:class:`~interp.errors.UnsafeModelError` (or :class:`~interp.errors.ModelLoadError` for a damaged file) that
names the file and says what to do.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from interp.errors import ModelLoadError, UnsafeModelError, echo

MAX_TEXT_BYTES = 100 * 2**20
"""The most a JSON, tokenizer or template file of a model folder may hold (100 MiB)."""
MAX_HEADER_BYTES = 100 * 2**20
"""The most a safetensors header may declare (safetensors' own limit)."""

# What transformers (and interp) read from the top of a model folder; anything else there is never opened.
_TEXT_SUFFIXES = (".json", ".txt", ".model", ".jinja", ".tiktoken", ".vocab")
_WEIGHTS_SUFFIX = ".safetensors"
_TEMPLATES = "additional_chat_templates"
_DTYPE_BYTES = {
    **dict.fromkeys(("F64", "I64", "U64", "C64"), 8),
    **dict.fromkeys(("F32", "I32", "U32"), 4),
    **dict.fromkeys(("F16", "BF16", "I16", "U16"), 2),
    **dict.fromkeys(("I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2", "F8_E8M0"), 1),
}


def shown(path: Any) -> str:
    text = str(path)
    return echo(text)[1:-1] if len(text) > 120 else text


def _inside(path: str, roots: Iterable[Path]) -> bool:
    for root in roots:
        top = os.path.realpath(root)
        if path == top or path.startswith(top.rstrip(os.sep) + os.sep):
            return True
    return False


def regular(path: Path, roots: Iterable[Path], what: str, limit: int | None = MAX_TEXT_BYTES) -> int:
    """Check that ``path`` is a regular file whose resolved path lies inside one of ``roots`` and that holds at
    most ``limit`` bytes; return its size. Never opens the file."""
    roots = tuple(roots)
    real = os.path.realpath(path)  # resolves links without opening anything
    if not _inside(real, roots):
        raise UnsafeModelError(
            f"the {what} {shown(path)} leads outside the model folder (to {shown(real)}): interp reads only files "
            "inside the folder. Copy the file into the folder instead of linking to it"
        )
    try:
        st = os.stat(real)
    except OSError as err:
        raise ModelLoadError(f"the {what} {shown(path)} cannot be read ({err.strerror or err})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a folder"
            if stat.S_ISDIR(st.st_mode)
            else "a named pipe"
            if stat.S_ISFIFO(st.st_mode)
            else "a device or other special file"
        )
        raise UnsafeModelError(
            f"the {what} {shown(path)} is {kind}, not a regular file: interp does not read it. Replace it with "
            "the file written by save_pretrained"
        )
    if limit is not None and st.st_size > limit:
        raise UnsafeModelError(
            f"the {what} {shown(path)} holds {st.st_size} bytes, more than the {limit >> 20} MiB such a file may "
            "hold: it is not a model file. Replace it with the file written by save_pretrained"
        )
    return st.st_size


def read_json(path: Path, roots: Iterable[Path], what: str) -> Any:
    """A JSON file of the folder, checked by :func:`regular` first; ModelLoadError if it is not JSON."""
    regular(path, roots, what)
    try:
        return json.loads(Path(os.path.realpath(path)).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ModelLoadError(
            f"{shown(path)} is not a readable {what} ({type(err).__name__}): write it again with save_pretrained"
        ) from None


def safetensors(path: Path, roots: Iterable[Path]) -> None:
    """A weights file: regular, inside, and exactly as large as its header declares (header size, then the
    tensors' byte ranges), read from its first bytes only."""
    size = regular(path, roots, "weights file", limit=None)
    damaged = (
        f"the weights file {shown(path)} is damaged or not a safetensors file ({{}}): save the model again with "
        "model.save_pretrained(folder)"
    )
    try:
        with open(os.path.realpath(path), "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ModelLoadError(damaged.format(f"{size} bytes, shorter than any header"))
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or n > size - 8:
                raise ModelLoadError(damaged.format(f"its header claims {n} bytes of a {size}-byte file"))
            header = json.loads(f.read(n).decode("utf-8"))
    except ModelLoadError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ModelLoadError(damaged.format(f"unreadable header: {type(err).__name__}")) from None
    if not isinstance(header, dict):
        raise ModelLoadError(damaged.format("its header is not a JSON object"))
    ranges = []
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        entry = entry if isinstance(entry, dict) else {}
        offsets, shape = entry.get("data_offsets"), entry.get("shape")
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(o) is int and o >= 0 for o in offsets)
            and offsets[0] <= offsets[1]
        ):
            raise ModelLoadError(damaged.format(f"tensor {echo(key, 60)} has no valid byte range"))
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            raise ModelLoadError(damaged.format(f"tensor {echo(key, 60)} has no valid shape"))
        width = _DTYPE_BYTES.get(entry.get("dtype"))
        if width is None:
            raise ModelLoadError(
                damaged.format(f"tensor {echo(key, 60)} has dtype {echo(entry.get('dtype'), 20)}")
            )
        if math.prod(shape) * width != offsets[1] - offsets[0]:
            raise ModelLoadError(
                damaged.format(f"tensor {echo(key, 60)}'s shape and dtype do not match its byte range")
            )
        ranges.append(offsets)
    ranges.sort()
    end = 0
    for start, stop in ranges:  # the tensors tile the data exactly: no gap, no overlap
        if start != end:
            raise ModelLoadError(damaged.format("its tensors overlap or leave gaps"))
        end = stop
    if size < 8 + n + end:
        raise ModelLoadError(damaged.format(f"it holds {size} bytes where its header declares {8 + n + end}"))
    if size > 8 + n + end:
        raise UnsafeModelError(
            f"the weights file {shown(path)} holds {size} bytes, more than the {8 + n + end} its header "
            "declares: interp does not read a file with hidden data. Save the model again with "
            "model.save_pretrained(folder)"
        )


def shards(index: Path, roots: Iterable[Path]) -> list[Path]:
    """The shard files a ``*.safetensors.index.json`` names, each a plain file name beside it; each checked."""
    roots = tuple(roots)
    data = read_json(index, roots, "weights index")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ModelLoadError(
            f"the weights index {shown(index)} names no weights (its 'weight_map' is missing or empty): save the "
            "model again with model.save_pretrained(folder), or delete the index if model.safetensors holds "
            "every weight"
        )
    files = []
    for name in sorted({v for v in weight_map.values() if isinstance(v, str)}):
        if os.sep in name or "/" in name or name in (".", "..") or not name:
            raise UnsafeModelError(
                f"the weights index {shown(index)} names the shard {echo(name, 80)}, which is not a file beside "
                "it: interp reads only files inside the folder. Save the model again with save_pretrained"
            )
        if not name.endswith(_WEIGHTS_SUFFIX):
            raise UnsafeModelError(
                f"the weights index {shown(index)} names the shard {echo(name, 80)}, which is not a safetensors "
                "file: interp does not unpickle weights. Save the model again with "
                "model.save_pretrained(folder, safe_serialization=True)"
            )
        files.append(index.parent / name)
    if any(not isinstance(v, str) for v in weight_map.values()):
        raise ModelLoadError(
            f"the weights index {shown(index)} maps a weight to something other than a file name"
        )
    for file in files:
        safetensors(file, roots)
    return files


def check_folder(folder: Path, roots: Iterable[Path] = ()) -> None:
    """Every file transformers or interp may read from the top of ``folder`` (and its chat templates): regular,
    inside ``folder`` or one of ``roots``, size-capped; safetensors files and the shards of an index checked
    against their headers."""
    roots = (folder, *roots)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as err:
        raise ModelLoadError(
            f"the model folder {shown(folder)} cannot be listed ({err.strerror or err})"
        ) from None
    for entry in entries:
        path = Path(entry.path)
        if entry.name.endswith(_WEIGHTS_SUFFIX + ".index.json"):
            shards(path, roots)
        elif entry.name.endswith(_WEIGHTS_SUFFIX):
            safetensors(path, roots)
        elif entry.name.endswith(_TEXT_SUFFIXES):
            regular(path, roots, "file")
        elif entry.name == _TEMPLATES:
            regular_folder(path, roots)
            for sub in sorted(os.scandir(path), key=lambda e: e.name):
                regular(Path(sub.path), roots, "chat template")


def regular_folder(path: Path, roots: Iterable[Path]) -> Path:
    """A subfolder (a sentence-transformers module, the chat templates): a real folder inside ``roots``."""
    real = os.path.realpath(path)
    if not _inside(real, roots):
        raise UnsafeModelError(
            f"the folder {shown(path)} leads outside the model folder (to {shown(real)}): interp reads only files "
            "inside it. Copy it into the folder instead of linking to it"
        )
    if not os.path.isdir(real):
        raise UnsafeModelError(
            f"{shown(path)} is not a folder: replace it with the one save_pretrained writes"
        )
    return Path(real)
