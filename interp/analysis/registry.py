"""The one declaration of each public analysis, and everything derived from it.

An analysis is declared once, by the decorator :func:`analysis` on its public function, in its module under
``interp/analysis/``::

    @analysis("decompose", result=DecompositionResult, needs={CACHE}, memory=decompose_memory, magic="decompose")
    def decompose(model, text, *, answer, contrast=None): ...

From those declarations come ``interp.__all__`` and ``interp.analysis.__all__`` with their lazy names, the API
reference and the generated part of the parameters page (``python -m interp docs``), the memory estimates
(:data:`interp.analysis.memory.ESTIMATES`), which analyses an engine runs (:func:`runs_with`), the result classes
the persistence tests must cover (:func:`result_classes`) and the ``%interp`` commands with their help.

``import interp`` must not import torch, so the names are read before any analysis module is imported:
:func:`declared` finds each ``@analysis("name"`` line (at the start of a line) in the package's source files, a
text search of a few milliseconds. Importing a module runs its decorators, which register the full declaration;
``tests/test_registry.py`` checks that the two agree. This module imports nothing heavy.

The decorated function is wrapped so that, before any work, every :class:`~interp.Model` among its arguments
refuses the analysis with :class:`~interp.errors.EngineError` if its engine lacks one of the capabilities it
``needs`` (:meth:`interp.Model.require`), and so that the whole call holds each such model's ``lock`` (a
reentrant lock: ``compare`` calls other analyses on the same models). Two threads running analyses on one model
therefore run one after the other; their results are those of sequential runs.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interp import checks

PACKAGE = "interp.analysis"
ORDER = (
    "patterns",
    "lens",
    "tuned",
    "attribution",
    "memory",
    "comparison",
    "suite",
    "ablation",
    "patching",
    "decomposition",
    "generation",
    "generation_suite",
)
"""The order of the modules' chapters in the API reference and ``__all__`` (reading order of the tutorials);
a module not listed follows them, by name. Listing is presentation only: an analysis in an unlisted module is
found all the same."""

_DECLARATION = re.compile(r"""^@analysis\(\s*["']([A-Za-z_]\w*)["']""", re.M)


@dataclass(frozen=True)
class Magic:
    """A ``%interp`` command generated from the declaration (no code in :mod:`interp.ipython`).

    ``positional`` and ``options`` are written as for :func:`interp.ipython.command` (``"var"``,
    ``'text:"text"'``, ``"heads+:L.H"``; ``{"answer": {}, "steps": {"type": int, "dest": "n_steps"}}``). Each
    positional argument named in ``models`` is the name of a variable that holds a model; the others, and every
    option, are passed to the analysis by position and keyword, with ``fixed`` keywords added (e.g.
    ``{"progress": False}``)."""

    command: str
    summary: str
    positional: tuple[str, ...] = ("var", 'text:"text"')
    options: Mapping[str, dict] = field(default_factory=dict)
    models: tuple[str, ...] = ("var",)
    fixed: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    """One public analysis, as its decorator declared it."""

    name: str
    function: Callable[..., Any]
    """The public (wrapped) function."""
    module: str
    result: type | tuple[type, ...] | None
    """The result class (or classes) it returns (None: not a saved result, e.g. a DataFrame or a number)."""
    needs: frozenset[str]
    """Engine capabilities (:data:`interp.models.engine.CAPABILITIES`) it needs."""
    memory: Callable[..., int] | None
    """Its memory estimate ``(model, T, rows, **settings) -> bytes``, or None: explicitly no estimate."""
    magic: Magic | str | None
    """Its ``%interp`` command: a :class:`Magic` (generated), the name of a command written in
    :mod:`interp.ipython` (one that needs more than keywords), or None."""


_REGISTRY: dict[str, Analysis] = {}


def analysis(
    name: str,
    *,
    result: type | tuple[type, ...] | None,
    needs: Iterable[str],
    memory: Callable[..., int] | None,
    magic: Magic | str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the public analysis ``name`` (the decorated function must have that name). ``result``,
    ``needs`` and ``memory`` are required, so that "none" is always said explicitly."""
    if isinstance(needs, str):
        raise TypeError(f"needs of {name!r} must be a set of capability names, not one string")
    needs = frozenset(needs)

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if fn.__name__ != name:
            raise TypeError(f"@analysis({name!r}) decorates {fn.__name__!r}: the names must agree")
        module = fn.__module__
        known = _REGISTRY.get(name)
        if known is not None and known.module != module:
            raise TypeError(f"analysis {name!r} is declared twice: in {known.module} and {module}")

        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            checks.arguments(f"interp.{name}", signature, args, kwargs)
            models = _models(args, kwargs)
            for m in models:
                m.require(needs, name)
            return _call_locked(sorted(models, key=id), fn, args, kwargs)

        _REGISTRY[name] = Analysis(name, run, module, result, needs, memory, magic)
        return run

    return register


def _models(args: tuple, kwargs: dict) -> list[Any]:
    """The :class:`~interp.Model` arguments of a call (in lists and tuples too), each once."""
    from interp.models import Model  # the caller's module has imported torch already

    found: dict[int, Any] = {}
    for value in (*args, *kwargs.values()):
        items = value if isinstance(value, (list, tuple)) else (value,)
        for item in items:
            if isinstance(item, Model):
                found.setdefault(id(item), item)
    return list(found.values())


def _call_locked(models: list[Any], fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Call ``fn`` holding every model's lock, taken in one order (by id, as the caller sorted them) so that
    two threads that each run an analysis of two models cannot each hold one lock and wait for the other.

    One plain ``with`` per lock, not an ``ExitStack`` or a generator: ``with`` on a C lock registers its release
    in the same bytecode that acquires it, so a Ctrl-C (or any signal handler's exception) can never land
    between the two. Through ``ExitStack.enter_context`` about one interrupt in seven left a lock held by the
    interrupted thread, and every other thread's analysis of that model then waited forever."""
    if not models:
        return fn(*args, **kwargs)
    with models[0].lock:
        return _call_locked(models[1:], fn, args, kwargs)


# ---- what is declared -------------------------------------------------------------------------------------------


def _module_files() -> list[tuple[str, Path]]:
    """(module name, source file) of every module of the package, in :data:`ORDER`, then by name."""
    root = Path(__file__).resolve().parent
    found = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and not any(p.startswith(".") for p in parts):
            found.append((".".join(parts), path))
    rank = {m: i for i, m in enumerate(ORDER)}
    found.sort(key=lambda mp: (rank.get(mp[0].split(".")[0], len(ORDER)), mp[0]))
    return [(f"{PACKAGE}.{m}", p) for m, p in found]


@functools.cache
def declared() -> dict[str, str]:
    """Every declared analysis name -> its module, in the order of the API reference, read from the source files
    (no module is imported)."""
    names: dict[str, str] = {}
    for module, path in _module_files():
        for name in _DECLARATION.findall(path.read_text(encoding="utf-8")):
            if name in names and names[name] != module:
                raise TypeError(f"analysis {name!r} is declared twice: in {names[name]} and {module}")
            names[name] = module
    return names


def get(name: str) -> Analysis:
    """The declaration of ``name`` (its module imported)."""
    module = declared().get(name)
    if module is None:
        raise KeyError(f"no analysis is declared as {name!r}")
    importlib.import_module(module)
    if name not in _REGISTRY:
        raise TypeError(f"{module} mentions @analysis({name!r}) but does not declare it when imported")
    return _REGISTRY[name]


def analyses() -> list[Analysis]:
    """Every declaration, in the order of :func:`declared` (their modules imported)."""
    return [get(name) for name in declared()]


def estimates() -> dict[str, Callable[..., int]]:
    """Analysis name -> memory estimate, for those that declared one."""
    return {a.name: a.memory for a in analyses() if a.memory is not None}


def runs_with(capabilities: Iterable[str]) -> list[str]:
    """The analyses that an engine with ``capabilities`` runs (their needs met), in order."""
    have = frozenset(capabilities)
    return [a.name for a in analyses() if a.needs <= have]


def result_classes() -> list[type]:
    """The result classes the analyses declare (what saving and loading must cover)."""
    found = [c for a in analyses() for c in (a.result if isinstance(a.result, tuple) else (a.result,))]
    return list(dict.fromkeys(c for c in found if c is not None))


def magics() -> list[tuple[str, Magic]]:
    """(analysis name, generated command) for every analysis whose magic is a :class:`Magic`, in order."""
    return [(a.name, a.magic) for a in analyses() if isinstance(a.magic, Magic)]


class ExportsPackage(type(importlib)):  # types.ModuleType, without importing types for one name
    """A package whose public names are functions that a submodule of the same name must not hide.

    The import system binds each imported submodule as an attribute of its package; a module ``token_count.py``
    would so replace the function ``token_count`` once imported. Binding a module over a public name is
    skipped here: the function stays the attribute (the module stays in ``sys.modules``)."""

    _public: Mapping[str, str] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._public and isinstance(value, type(importlib)):
            return
        super().__setattr__(name, value)


# A module has no ``__module__`` of its own; without this, the class's would be read as the package's own (tools
# that document by inspection, mkdocstrings among them, then took the package for this module).
ExportsPackage.__module__ = property(lambda self: self.__name__)  # type: ignore[assignment]


def exports(module_name: str, public: Mapping[str, str]) -> None:
    """Make the module ``module_name`` an :class:`ExportsPackage` for the names of ``public``."""
    import sys

    module = sys.modules[module_name]
    module.__class__ = ExportsPackage
    object.__setattr__(module, "_public", public)
