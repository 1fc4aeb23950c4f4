"""Every user-facing failure is an :class:`InterpError` whose message says what to do."""

from __future__ import annotations


class InterpError(Exception):
    """Base class of every error that ``interp`` raises on purpose."""


class ModelLoadError(InterpError):
    """A model name, folder or object could not be turned into a :class:`interp.Model`."""


class UnsupportedArchitectureError(ModelLoadError):
    """The model's architecture is not one the engine supports."""


class HookNameError(InterpError, KeyError):
    """A hook name that the model does not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class HookError(InterpError):
    """A user hook function raised; the original exception is chained as ``__cause__``."""


class InputError(InterpError, ValueError):
    """Text, tokens, probes, answers or positions that cannot be used as given."""
