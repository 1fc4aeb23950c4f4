"""Checks of the public API's arguments: types, ranges, text lengths and memory, in one place.

Every public function checks its numeric and flag arguments here before any work starts, so a wrong type or an
out-of-range value is an :class:`~interp.errors.InputError` naming the parameter, never a silent conversion
(``True`` is not 1, ``1.7`` is not 1, ``-1`` is not "all"). Messages quote user input through
:func:`interp.errors.echo` (at most 200 characters). Torch is imported only where memory is measured.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import os
from collections.abc import Callable, Iterable
from typing import Any

from interp.errors import InputError, ResourceError, echo

MAX_CHARS_PER_TOKEN = 100
"""The most characters one token is taken to cover when a text's length is checked before tokenizing (BERT's
word-piece tokenizer turns a word of up to 100 characters into one unknown token). A text longer than
``n_ctx * MAX_CHARS_PER_TOKEN`` characters cannot fit the context and is refused without being tokenized."""

MAX_SEED = 2**63 - 1
"""The largest seed accepted (torch's generators take 64-bit seeds)."""


def listed(value: Any) -> list | None:
    """``value`` as a list where it is an ordered collection of items: a list, a tuple, or a one-dimensional
    pandas Series or Index or numpy array (a column of texts, answers or probes), else None. A string, a
    mapping, a set, a DataFrame or a tensor is not such a collection: a tensor is one input's token ids."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if type(value).__module__.split(".")[0] in ("pandas", "numpy") and getattr(value, "ndim", None) == 1:
        return value.tolist()
    return None


def array_value(value: Any) -> Any:
    """A numpy or torch array's contents as Python values (``.tolist()``: a number from a 0-d array, a list from
    a 1-d or 2-d one); any other value as it is. Types are checked after, on what the array holds."""
    if type(value).__module__.split(".")[0] in ("numpy", "torch") and getattr(value, "ndim", None) in (
        0,
        1,
        2,
    ):
        return value.tolist()
    return value


def integer(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (Python, numpy, or a 0-d numpy or torch array of one; never a
    bool or a float) in ``[low, high]``; otherwise an InputError naming ``name`` and the accepted range."""
    if getattr(value, "ndim", None) == 0:
        value = array_value(value)
    ok = (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and type(value).__name__ != "bool_"
    )
    if ok:
        value = int(value)
        ok = (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        raise InputError(f"{name} must be {_range('an integer', low, high)}, got {_shown(value)}")
    return value


def number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    what: str | None = None,
) -> float:
    """``value`` as a finite ``float`` (an int or float, never a bool) in ``[low, high]`` (``(low, high]``
    with ``low_open``); otherwise an InputError naming ``name`` (and ``what`` it must be)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"
    if ok:
        value = float(value)
        ok = math.isfinite(value)
        ok = ok and (low is None or (value > low if low_open else value >= low))
        ok = ok and (high is None or value <= high)
    if not ok:
        if what is None and low is not None and low_open and high is None:
            what = f"a finite number > {low:g}"
        elif what is None:
            what = _range("a finite number", low, high)
        raise InputError(f"{name} must be {what}, got {_shown(value)}")
    return value


def flag(name: str, value: Any) -> bool:
    """``value`` if it is a bool (Python or numpy); anything else (``"no"``, 0, None) is an InputError."""
    kind = type(value)  # numpy's bool is named bool_ before numpy 2 and bool since
    if isinstance(value, bool) or (kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool")):
        return bool(value)
    raise InputError(f"{name} must be True or False, got {_shown(value)}")


def choice(name: str, value: Any, options: Iterable[str]) -> str:
    """``value`` if it is one of the strings ``options``; otherwise an InputError listing them."""
    options = tuple(options)
    if isinstance(value, str) and value in options:
        return value
    shown = echo(value) if isinstance(value, str) else _shown(value)
    raise InputError(f"unknown {name} {shown}: use one of {', '.join(options)}")


RENAMED = {
    "torch_dtype": "dtype",
    "random_state": "seed",
    "n": "n_tokens",  # the magic's --n
    "max_new_tokens": "n_tokens",  # transformers' generate
    "internal_batch_size": "batch_size",  # captum's
}
"""Keywords other libraries use for what interp calls otherwise (transformers' ``torch_dtype`` is ``dtype``)."""


def arguments(function: str, signature: inspect.Signature, args: tuple, kwargs: dict) -> None:
    """An unknown keyword or a missing or extra argument of ``function`` is an InputError naming its own
    arguments, not Python's TypeError."""
    params = signature.parameters.values()
    if all(p.kind != p.VAR_KEYWORD for p in params):
        unknown = {k: v for k, v in kwargs.items() if k not in signature.parameters}
        named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        keywords(function, unknown, [p.name for p in params if p.kind == p.KEYWORD_ONLY], meant_from=named)
    try:
        signature.bind(*args, **kwargs)
    except TypeError as err:
        raise InputError(f"{function}(): {err}; see help({function}) for its arguments") from None


def checked(fn: Callable) -> Callable:
    """``fn`` with its arguments checked by :func:`arguments` first; its signature (``inspect.signature``
    follows ``__wrapped__``) and docstring are unchanged."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        arguments(f"interp.{fn.__name__}", signature, args, kwargs)
        return fn(*args, **kwargs)

    return call


def method_keywords(fn: Callable) -> Callable:
    """A method of :class:`interp.Model` that refuses a keyword it does not have with one InputError naming its
    own (``model.frame() has no keyword 'answr': use answer= instead``); every other call goes straight through
    (one set comparison, and only when keywords are given)."""
    params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    names = frozenset(accepted)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if kwargs and not names.issuperset(kwargs):
            keywords(f"model.{fn.__name__}", {k: v for k, v in kwargs.items() if k not in names}, accepted)
        return fn(*args, **kwargs)

    return call


def keywords(
    function: str, given: dict, accepted: Iterable[str], meant_from: Iterable[str] | None = None
) -> None:
    """Refuse the keywords ``given`` that ``function`` does not have, naming the one meant where it is
    recognisable (a close spelling, or another library's name for it) and the keywords ``accepted``."""
    if not given:
        return
    accepted = tuple(accepted)
    candidates = tuple(meant_from) if meant_from is not None else accepted  # the positional names too
    name = next(iter(given))
    meant = RENAMED.get(name) if RENAMED.get(name) in candidates else None
    if meant is None:
        import difflib

        close = difflib.get_close_matches(str(name), candidates, n=1)
        meant = close[0] if close else None
    hint = f"use {meant}= instead; " if meant else ""
    raise InputError(
        f"{function}() has no keyword {echo(name)}: {hint}its keywords are {', '.join(f'{a}=' for a in accepted)}"
    )


def text_length(text: str, n_ctx: int, model_name: str, what: str = "the text") -> None:
    """Refuse ``text`` if it has more characters than ``n_ctx`` tokens can possibly hold, before tokenizing."""
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, got {type(text).__name__} {echo(text, 80)}")
    limit = n_ctx * MAX_CHARS_PER_TOKEN
    if len(text) > limit:
        raise InputError(
            f"{what} has {len(text):,} characters, but {model_name} reads at most {n_ctx} tokens (no more than "
            f"{limit:,} characters, at {MAX_CHARS_PER_TOKEN} per token): shorten it to a passage of at most "
            f"{n_ctx} tokens"
        )


def _range(what: str, low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{what} from {low:,} to {high:,}"
    if low is not None:
        return f"{what} >= {low:,}"
    if high is not None:
        return f"{what} <= {high:,}"
    return what


def _shown(value: Any) -> str:
    """The value and, where its repr hides it, its type (``'3'`` vs ``3``, ``np.float64(1.0)``)."""
    return f"{echo(value)} ({type(value).__name__})"


# ---- memory -------------------------------------------------------------------------------------------------


def available_memory(device: Any) -> int | None:
    """Bytes free for new tensors on ``device``: free GPU memory (``torch.cuda.mem_get_info``) on CUDA, the
    system's available memory (psutil, else /proc/meminfo) on the CPU; None where it cannot be measured."""
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        import torch

        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:  # noqa: BLE001  (no driver answer: nothing to compare against)
            return None
    if kind != "cpu":
        return None
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001  (psutil missing or unsupported: fall back to the kernel's figure)
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if hasattr(os, "sysconf"):
        try:
            return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            pass
    return None


def size(n_bytes: float) -> str:
    """``n_bytes`` as text: ``1.5 GiB``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{int(n_bytes)} bytes"


def memory(estimate: float, device: Any, what: str, advice: str) -> None:
    """Refuse work whose ``estimate`` (bytes) exceeds the memory available on ``device``, before it starts."""
    free = available_memory(device)
    if free is not None and estimate > free:
        raise ResourceError(
            f"{what} would need about {size(estimate)} but only {size(free)} is available on "
            f"{getattr(device, 'type', device)}: {advice}"
        )


# ---- models and tensors -------------------------------------------------------------------------------------


def model(value: Any, name: str = "model") -> Any:
    """``value`` if it is an :class:`interp.Model`; otherwise an InputError saying how to get one."""
    from interp.models.handle import Model

    if not isinstance(value, Model):
        raise InputError(
            f"{name} must be a model from interp.load(...) or interp.wrap(...), got {type(value).__name__}"
        )
    return value


def attention_mask(mask: Any, tokens: Any) -> Any:
    """``mask`` if it is None or a 0/1 (bool or integer) tensor of the tokens' shape ``(batch, T)`` whose rows
    each keep at least one token; a ``(T,)`` mask of one sequence becomes ``(1, T)``."""
    import torch

    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.dtype.is_floating_point or mask.dtype.is_complex:
        raise InputError(
            "attention_mask must be a bool or integer torch tensor of 0s and 1s, shape (batch, T); got "
            f"{type(mask).__name__}{'' if not isinstance(mask, torch.Tensor) else ' of ' + str(mask.dtype)}"
        )
    if mask.dim() == 1:
        mask = mask[None]
    if tuple(mask.shape) != tuple(tokens.shape):
        raise InputError(
            f"attention_mask has shape {tuple(mask.shape)} but the tokens have {tuple(tokens.shape)}: pass one "
            "0/1 entry per token"
        )
    values = mask.long()
    if bool(((values != 0) & (values != 1)).any()):
        raise InputError("attention_mask must hold only 0 (padding) and 1 (a real token)")
    if bool((values.sum(-1) == 0).any()):
        raise InputError("every row of attention_mask must keep at least one token (a 1)")
    return values
