"""Frozen results of the analyses: numpy arrays on the CPU, token strings, the model's name and kind, settings.

Each field's docstring gives its shape. ``__post_init__`` checks shapes and invariants, so a result that exists
is consistent. Results display as their view in a notebook (``widgets`` is imported only then), print as
plain text elsewhere, and round-trip through ``.save(path)`` / :func:`load_result` (one ``.npz`` file).

Every result class registers itself where it is defined (``Result.__init_subclass__``); this package imports
its modules and exports what registered, so a new result class is listed nowhere else. Nothing here imports
torch.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from interp.results.analyses import HEAD_STATS
from interp.results.base import _REGISTRY, FORMAT_VERSION, Result, load_result

for _info in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_info.name}")
globals().update(_REGISTRY)

__all__ = ["FORMAT_VERSION", "HEAD_STATS", "Result", "load_result", *sorted(_REGISTRY)]
