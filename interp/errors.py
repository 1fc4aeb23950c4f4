"""Every user-facing failure is an :class:`InterpError` whose message says what to do."""

from __future__ import annotations

MAX_ECHO = 200
"""At most this many characters of user input appear in any message."""


def echo(value: object, limit: int = MAX_ECHO) -> str:
    """``repr(value)`` cut to ``limit`` characters, for quoting user input in a message."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not replace the error being reported
        text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return text
    return f"{text[: limit - 25]}... ({len(text)} characters)"


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` itself (no quotes) cut to ``limit`` characters, for messages that embed a longer message."""
    text = str(text)
    return text if len(text) <= limit else f"{text[: limit - 25]}... ({len(text)} characters)"


class InterpError(Exception):
    """Base class of every error that ``interp`` raises on purpose."""


class ModelLoadError(InterpError):
    """A model name, folder or object could not be turned into a :class:`interp.Model`."""


class UnsupportedArchitectureError(ModelLoadError):
    """The model's architecture is not one the engine supports."""


class UnsafeModelError(ModelLoadError):
    """A folder that would run its own code (``auto_map``) or unpickle its weights: refused, never run."""


class TokenizerError(ModelLoadError):
    """A model folder without usable tokenizer files."""


class DeviceError(ModelLoadError, ValueError):
    """A device or dtype that does not exist or is not available on this machine."""


class NoLMHeadError(InterpError):
    """An analysis that reads through a language-model head (answers, logits, the lens) asked of a model without
    one: an encoder-only checkpoint."""


class HookNameError(InterpError, KeyError):
    """A hook name that the model does not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class HookError(InterpError):
    """A user hook function raised, or returned something other than None or a tensor like its input."""


class EngineError(InterpError, AttributeError):
    """An analysis or engine internal that the model's engine does not provide (the nnsight engine has no
    gradients, say): the message names the engine and the one that does."""


class InputError(InterpError, ValueError):
    """Text, tokens, probes, answers or positions that cannot be used as given."""


class ResourceError(InputError):
    """Work that would need more memory than the machine has: refused, with the estimate, before it starts."""


class NonFiniteError(InterpError, FloatingPointError):
    """NaN or infinite values in the model's weights or activations; names the first hook point they reach."""


class ResultError(InterpError, ValueError):
    """A result whose fields break its invariants, or a saved result file that is damaged, tampered with or
    written by a newer interp."""


class InterpWarning(UserWarning):
    """A result that exists but may mislead: the message says why and what to do."""
