"""The ``%interp`` line magic: ``%load_ext interp``, then ``%interp help``.

Thin: :data:`COMMANDS` is the one table ``{command: (parser, function)}``; each function takes the shell and
the parsed arguments and calls the public API. ``%interp help`` is generated from the table. Errors print one
line, never a traceback.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from typing import Any

from interp.errors import clip, echo

Handler = Callable[[Any, argparse.Namespace], Any]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise _UsageError(f"{self.prog}: {clip(message)}")


class _UsageError(Exception):
    pass


COMMANDS: dict[str, tuple[_Parser, Handler]] = {}
"""command -> (argument parser, function(shell, args) -> what the cell displays)."""


def command(name: str, summary: str, *positional: str, **options: dict) -> Callable[[Handler], Handler]:
    """Add ``%interp name`` to :data:`COMMANDS`: positional arguments (``"heads+"``: one or more, ``"x*"``:
    any number; ``"name:METAVAR"`` names it in the help) and ``--options`` (argparse keyword dicts)."""

    def add(fn: Handler) -> Handler:
        p = _Parser(prog=f"%interp {name}", add_help=False, description=summary)
        for arg in positional:
            arg, _, metavar = arg.partition(":")
            nargs = "+" if arg.endswith("+") else "*" if arg.endswith("*") else None
            dest = arg.rstrip("+*")
            p.add_argument(dest, nargs=nargs, metavar=metavar or dest.upper())
        for opt, kw in options.items():
            p.add_argument(f"--{opt}", **{"metavar": opt[0].upper(), **kw})
        COMMANDS[name] = (p, fn)
        return fn

    return add


def usage(name: str) -> str:
    """``%interp name ARG ... [--option X]`` from the command's parser."""
    parser = COMMANDS[name][0]
    parts = [f"%interp {name}"]
    for action in parser._actions:
        label = action.metavar
        if action.option_strings:
            parts.append(f"[{action.option_strings[0]} {label}]")
        elif action.nargs == "+":
            parts.append(f"{label} [{label} ...]")
        else:
            parts.append(f"[{label}]" if action.nargs == "*" else label)
    return " ".join(parts)


def help_text() -> str:
    """Every command: its usage and what it does (generated from :data:`COMMANDS`)."""
    lines = ["%interp commands (a result displays as its view):"]
    for name, (parser, _) in COMMANDS.items():
        lines += [f"  {usage(name)}", f"      {parser.description}"]
    return "\n".join(lines)


def _model(shell: Any, var: str):
    import interp

    obj = shell.user_ns.get(var)
    if not isinstance(obj, interp.Model):
        raise interp.InterpError(f"{echo(var)} is not a loaded model: run %interp load NAME as VAR")
    return obj


def _heads(items: list[str]) -> list[tuple[int, int]]:
    import interp

    out = []
    for item in items:
        try:
            layer, head = item.split(".")
            out.append((int(layer), int(head)))
        except ValueError:
            raise interp.InterpError(f"heads are written LAYER.HEAD (e.g. 0.3), not {echo(item)}") from None
    return out


# ---- the commands -------------------------------------------------------------------------------------------


@command("load", "load a model: a zoo name, a local folder or a hub id", "name:NAME", "as_var*:as VAR")
def _load(shell: Any, a: argparse.Namespace) -> None:
    import interp

    rest = a.as_var
    if rest and (len(rest) != 2 or rest[0] != "as"):
        raise _UsageError("%interp load: usage: %interp load NAME [as VAR]")
    var = rest[1] if rest else a.name.replace("-", "_").replace("/", "_").replace(".", "_")
    if not var.isidentifier():
        raise _UsageError(f"%interp load: {echo(var)} is not a valid variable name; add 'as VAR'")
    model = interp.load(a.name)
    shell.user_ns[var] = model
    print(f"{var} = {model!r}")


@command("hooks", "list the model's hook points", "var")
def _hooks(shell: Any, a: argparse.Namespace) -> None:
    print("\n".join(_model(shell, a.var).hook_names()))


@command("attention", "attention patterns and time-view statistics", "var", 'text:"text"')
def _attention(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    return interp.attention(_model(shell, a.var), a.text)


@command(
    "lens",
    "the logit lens (--lens tuned: the tuned lens, its translators trained or found for this model)",
    "var",
    'text:"text"',
    answer={},
    position={"type": int},
    lens={"default": "logit"},
)
def _lens(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    return interp.logit_lens(_model(shell, a.var), a.text, answer=a.answer, position=a.position, lens=a.lens)


@command(
    "attribute",
    "token attribution of the answer at the read position",
    "var",
    'text:"text"',
    answer={},
    contrast={},
    method={"default": "integrated_gradients"},
    steps={"type": int, "default": 50},
)
def _attribute(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    return interp.attribute(
        _model(shell, a.var), a.text, answer=a.answer, contrast=a.contrast, method=a.method, n_steps=a.steps
    )


@command(
    "decompose",
    "each head's, MLP's and embedding's share of the answer's logit at the read position",
    "var",
    'text:"text"',
    answer={},
    contrast={},
)
def _decompose(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    return interp.decompose(_model(shell, a.var), a.text, answer=a.answer, contrast=a.contrast)


@command(
    "compare",
    "a causal and a bidirectional model side by side on one probe with a ___ slot",
    "causal",
    "bidirectional:BIDI",
    'probe:"probe with ___"',
    answer={},
    lens={"default": "logit"},
)
def _compare(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    causal, bidirectional = _model(shell, a.causal), _model(shell, a.bidirectional)
    return interp.compare(causal, bidirectional, a.probe, answer=a.answer, lens=a.lens)


@command(
    "generate",
    "generate N tokens: causal left to right, masked LMs by unmasking (order: confidence|random|left_to_right)",
    "var",
    'prompt:"prompt"',
    n={"type": int, "default": 8},
    steps={"type": int},
    order={"default": "confidence"},
    seed={"type": int, "default": 0},
)
def _generate(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    return interp.generate(_model(shell, a.var), a.prompt, a.n, steps=a.steps, order=a.order, seed=a.seed)


@command(
    "ablate",
    "silence heads (LAYER.HEAD) and watch the answer",
    "var",
    'text:"text"',
    "heads+:L.H",
    mode={"default": "zero", "metavar": "zero|mean"},
    answer={},
)
def _ablate(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    return interp.ablate(_model(shell, a.var), a.text, _heads(a.heads), mode=a.mode, answer=a.answer)


@command(
    "importance",
    "ablate every head in turn",
    "var",
    'text:"text"',
    mode={"default": "zero", "metavar": "zero|mean"},
    answer={},
)
def _importance(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    return interp.head_importance(_model(shell, a.var), a.text, mode=a.mode, answer=a.answer, progress=False)


@command(
    "patch",
    "activation patching: clean activations copied into the corrupt run",
    "var",
    'clean:"clean"',
    'corrupt:"corrupt"',
    hook={"default": "resid_post", "metavar": "resid_post|attn_out|mlp_out"},
    answer={},
    contrast={},
)
def _patch(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    model = _model(shell, a.var)
    return interp.patch(
        model, a.clean, a.corrupt, hook=a.hook, answer=a.answer, contrast=a.contrast, progress=False
    )


@command("help", "this text")
def _help(shell: Any, a: argparse.Namespace) -> None:
    print(help_text())


# ---- the magic ----------------------------------------------------------------------------------------------


def run(shell: Any, line: str) -> Any:
    """Execute one ``%interp`` line; return what the cell should display."""
    try:
        words = shlex.split(line)
    except ValueError as err:
        raise _UsageError(f"%interp: {err} (check the quotes)") from None
    if not words or words[0] in ("-h", "--help"):
        words = ["help"]
    name, rest = words[0], words[1:]
    if name not in COMMANDS:
        raise _UsageError(f"%interp: unknown command {echo(name)}; %interp help lists them")
    parser, fn = COMMANDS[name]
    return fn(shell, parser.parse_args(rest))


def load_ipython_extension(ipython: Any) -> None:
    def interp_magic(line: str) -> Any:
        import interp

        try:
            return run(ipython, line)
        except (interp.InterpError, _UsageError, ValueError) as err:
            print(f"interp: {err}", file=sys.stderr)
            return None

    interp_magic.__doc__ = help_text()
    ipython.register_magic_function(interp_magic, magic_kind="line", magic_name="interp")


def unload_ipython_extension(ipython: Any) -> None:
    ipython.magics_manager.magics["line"].pop("interp", None)
