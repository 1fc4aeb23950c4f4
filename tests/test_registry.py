"""One declaration per analysis: a toy analysis dropped into a copy of the package, with no other edit, appears
in every place derived from its ``@analysis`` line; the names are read without torch; a module named like its
function never hides it; the declarations and the source scan agree."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import interp
from interp.analysis import registry

ROOT = Path(__file__).resolve().parents[1]

# The toy lives in a module named like its function: the case that once made ``interp.token_count`` the module.
TOY = '''
"""A toy analysis: the number of tokens of a text."""

from dataclasses import dataclass

from interp import checks
from interp.analysis.registry import Magic, analysis
from interp.results.base import Result


@dataclass(frozen=True, repr=False)
class TokenCountResult(Result):
    """How many tokens a text is."""

    n_tokens: int
    """Tokens of the text, special tokens included."""


def token_count_memory(model, T, rows=1, **_):
    return 8 * T * rows


CALLS = []


@analysis(
    "token_count",
    result=TokenCountResult,
    needs={"cache"},
    memory=token_count_memory,
    magic=Magic("tokens", "count the tokens of a text", options={"max": {"type": int, "dest": "limit"}}),
)
def token_count(model, text, *, limit=None, check_memory=True):
    """The number of tokens of ``text`` for ``model`` (at most ``limit``)."""
    CALLS.append(model.lock._is_owned())  # the model's lock is held for the whole call
    n = checks.model(model).to_tokens(text).shape[1]
    return TokenCountResult(model.name, model.kind, n_tokens=int(n if limit is None else min(n, limit)))
'''

CHECK = """
import importlib, io, sys
from contextlib import redirect_stdout

import interp
assert "torch" not in sys.modules
assert "token_count" in interp.__all__ and "token_count" in interp.analysis.__all__
assert "torch" not in sys.modules  # the names are known before any analysis module is imported
interp.attention  # another name first (this once imported every module, binding token_count as the module)
importlib.import_module("interp.analysis.token_count")
assert callable(interp.token_count) and interp.token_count.__name__ == "token_count", interp.token_count
assert interp.analysis.token_count is interp.token_count
from interp.analysis import token_count as imported
assert imported is interp.token_count
toy = sys.modules["interp.analysis.token_count"]
assert interp.token_count.__doc__.startswith("The number of tokens")

from interp.analysis import memory, registry
assert registry.get("token_count").needs == frozenset({"cache"})
assert memory.ESTIMATES["token_count"] is toy.token_count_memory
assert "token_count" in registry.runs_with({"cache"}) and "token_count" not in registry.runs_with({"hooks"})
assert toy.TokenCountResult in registry.result_classes()

sys.path.insert(0, TESTS)
import test_persistence
assert "TokenCountResult" in test_persistence.required_classes()

from interp.cli import docgen
assert "::: interp.token_count\\n" in docgen.render_api()
params = docgen.render_parameters(open("docs/parameters.md").read())
row = next(line for line in params.splitlines() if line.startswith("| `interp.token_count`"))
assert "`model`, `text`, `limit` = `None`, `check_memory` = `True`" in row and "`TokenCountResult`" in row and '`tokens VAR "text" [--max M]`' in row
assert "| `token_count` | yes |" in params
assert "`check_memory`" in row and "`tokens " in params  # what the parameter audit (test_bounds) looks for

from interp import ipython
help_text = ipython.help_text()
assert "%interp tokens VAR \\"text\\" [--max M]\\n      count the tokens of a text\\n  %interp help" in help_text, help_text

m = interp.load("tiny-causal")
assert interp.estimate_memory(m, "token_count", 10) == 80
class Shell:
    user_ns = {"c": m}
result = ipython.run(Shell(), 'tokens c "the keys to the cabinet"')
assert isinstance(result, toy.TokenCountResult) and result.n_tokens == m.to_tokens("the keys to the cabinet").shape[1]
assert ipython.run(Shell(), 'tokens c "the keys to the cabinet" --max 2').n_tokens == 2
assert toy.CALLS == [True, True] and not m.lock._is_owned()
print("ok")
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """A copy of the package with the toy module added, and nothing else changed."""
    root = tmp_path_factory.mktemp("pkg")
    for name in ("interp", "widgets"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "parameters.md", root / "docs" / "parameters.md")
    (root / "interp" / "analysis" / "token_count.py").write_text(TOY.lstrip())
    return root


def test_a_toy_analysis_is_found_everywhere_from_its_one_declaration(package):
    code = f"TESTS = {str(ROOT / 'tests')!r}\n" + textwrap.dedent(CHECK)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=package,
        env={**os.environ, "PYTHONPATH": str(package), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), (
        proc.stdout[-2000:] + proc.stderr[-4000:]
    )


def test_the_source_scan_and_the_declarations_agree():
    """What ``import interp`` reads without importing (the ``@analysis("name"`` lines) is what the modules
    declare when imported, each name in its module, every public function of the package."""
    declared = registry.declared()
    assert list(declared) == [a.name for a in registry.analyses()]
    for a in registry.analyses():
        assert a.module == declared[a.name] and a.function is getattr(interp, a.name), a.name
        assert a.function.__wrapped__.__name__ == a.name and a.function.__doc__, a.name
        assert a.memory is None or callable(a.memory), a.name
    assert interp.analysis.__all__ == list(declared)
    assert set(declared) <= set(interp.__all__)


def test_no_module_of_the_package_is_named_like_a_public_name():
    """``interp``'s own names resolve through one explicit map; a submodule of that name would replace one once
    imported (the analyses' package guards against that itself: the toy test above)."""
    import pkgutil

    modules = {info.name for info in pkgutil.iter_modules(interp.__path__)}
    assert modules & set(interp.__all__) == {"objectives"}  # a public module on purpose


def test_declared_needs_are_engine_capabilities_and_magics_exist():
    from interp.ipython import COMMANDS
    from interp.models.engine import CAPABILITIES

    commands = set()
    for a in registry.analyses():
        assert a.needs <= set(CAPABILITIES), (a.name, a.needs - set(CAPABILITIES))
        if a.magic is not None:
            name = a.magic if isinstance(a.magic, str) else a.magic.command
            assert name in COMMANDS, (a.name, name)
            commands.add(name)
    # every command in interp.ipython that runs an analysis is declared by that analysis
    assert set(COMMANDS) - commands == {"load", "hooks", "help"}


def test_hand_written_engine_tables_agree_with_the_declarations():
    """What the nnsight engine runs follows from its capabilities and each analysis's needs; the how-to's table
    (which adds how each runs) and any table the engine module still keeps must say the same."""
    import re

    from interp.models import nnsight_engine

    local = set(registry.runs_with(nnsight_engine.LOCAL_CAPABILITIES))
    remote = set(registry.runs_with(nnsight_engine.REMOTE_CAPABILITIES))
    gradients = {a.name for a in registry.analyses() if "gradients" in a.needs}
    assert "attribute" in gradients and gradients & local == local - remote and remote <= local
    assert {"compare", "compare_suite", "tuned_lens"}.isdisjoint(local)
    if hasattr(nnsight_engine, "CAPABILITIES"):
        assert set(nnsight_engine.CAPABILITIES) == local
    if hasattr(nnsight_engine, "LOCAL_ONLY"):
        assert set(nnsight_engine.LOCAL_ONLY) == local - remote
    howto = (ROOT / "docs" / "howto.md").read_text().split("What the nnsight engine runs")[1]
    rows = [line for line in howto.split("\n\n")[1].splitlines() if line.startswith("| `")]
    seen = set()
    for row in rows:
        names, here, there = row.split("|")[1:4]
        for name in set(re.findall(r"`(\w+)`", names)) & set(registry.declared()):
            seen.add(name)
            assert here.strip().startswith("yes") == (name in local), row
            assert (not there.strip().startswith("no")) == (name in remote), row
    assert seen >= local


def test_the_wrapper_refuses_before_any_work_and_keeps_the_signature(causal, monkeypatch):
    import inspect

    from interp.errors import EngineError

    assert str(inspect.signature(interp.decompose)) == str(inspect.signature(interp.decompose.__wrapped__))
    entered = []

    @registry.analysis("toy_probe", result=None, needs={"gradients"}, memory=None)
    def toy_probe(model, text):
        entered.append(model.lock._is_owned())
        return len(text)

    assert toy_probe(causal, "abc") == 3 and entered == [True] and not causal.lock._is_owned()
    monkeypatch.setattr(causal.engine_impl, "capabilities", frozenset({"hooks"}))
    with pytest.raises(EngineError, match="toy_probe is not available"):
        toy_probe(causal, "abc")
    assert entered == [True]  # refused before the function ran
    with pytest.raises(EngineError, match="decompose is not available"):
        interp.decompose(causal, "the keys to the cabinet ___ on the table .", answer="are")
    assert not causal.lock._is_owned()


def test_a_declaration_must_name_its_function():
    with pytest.raises(TypeError, match="the names must agree"):

        @registry.analysis("other_name", result=None, needs=(), memory=None)
        def toy_function(model):
            return model

    with pytest.raises(TypeError, match="set of capability names"):
        registry.analysis("toy", result=None, needs="cache", memory=None)
