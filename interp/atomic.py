"""Writes that never destroy: every file interp writes goes through :func:`write_atomically`.

The bytes go to a temporary file in the target's own folder (so the rename stays on one file system), are
flushed to disk, and the temporary file is renamed over the target in one step (``os.replace``). A full disk, a
file-size limit or a Ctrl-C at any point leaves the target as it was (the previous file, or none) and removes
the temporary file.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it over ``path``; return the path.

    Raises:
        OSError: when the folder is missing or the write fails (callers turn it into their own InputError);
            ``path`` is then unchanged and no temporary file is left.
    """
    target = Path(path)
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        # renaming over a device, pipe or socket would replace it (as root: /dev/null itself) with the file
        raise OSError(
            errno.EEXIST, "it exists and is not a regular file; pass the path of a file", str(target)
        )
    # Hidden, random and short: never collides with a user's file or a concurrent writer's temporary file.
    tmp = target.parent / f".{target.name[:100]}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
