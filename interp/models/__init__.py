"""Everything that knows about model internals: the Model handle and loading."""

from interp.models.handle import Model
from interp.models.loading import SUPPORTED, load, wrap

__all__ = ["Model", "SUPPORTED", "load", "wrap"]
