"""The ``%interp`` line magic: ``%load_ext interp``, then ``%interp help``.

Thin: :data:`COMMANDS` is the one table ``{command: (parser, function)}``; each function takes the shell and
the parsed arguments and calls the public API. An analysis declared with ``magic=Magic(...)``
(:mod:`interp.analysis.registry`) gets its command from that declaration, added to the table on first use;
``magic="name"`` names a command written here. ``%interp help`` is generated from the table. Errors print one
line, never a traceback.
"""

from __future__ import annotations

import argparse
import builtins
import keyword
import re
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


class _Commands(dict):
    """The table, completed on first read with the commands the analyses declare (importing them then, not when
    the extension loads: ``%load_ext interp`` stays free of torch)."""

    complete = False

    def _complete(self) -> None:
        if self.complete:
            return
        from interp.analysis import registry

        self.complete = True
        last = dict.pop(self, "help", None)  # help stays the last command listed
        for name, spec in registry.magics():
            if dict.__contains__(self, spec.command):
                raise TypeError(f"%interp {spec.command} is declared by {name} and written in interp.ipython")
            command(spec.command, spec.summary, *spec.positional, **spec.options)(_generated(name, spec))
        if last is not None:
            dict.__setitem__(self, "help", last)

    def __contains__(self, key: object) -> bool:
        self._complete()
        return dict.__contains__(self, key)

    def __getitem__(self, key: str) -> tuple[_Parser, Handler]:
        self._complete()
        return dict.__getitem__(self, key)

    def __iter__(self):
        self._complete()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._complete()
        return dict.__len__(self)

    def items(self):
        self._complete()
        return dict.items(self)


COMMANDS: dict[str, tuple[_Parser, Handler]] = _Commands()
"""command -> (argument parser, function(shell, args) -> what the cell displays)."""


def _generated(analysis: str, spec: Any) -> Handler:
    """The function of a command declared with the analysis (a :class:`~interp.analysis.registry.Magic`):
    positional arguments in order (variables named in ``spec.models`` looked up as models), then the options
    given, as keywords, and the declaration's fixed keywords."""

    def run_analysis(shell: Any, a: argparse.Namespace) -> Any:
        import interp

        values = dict(vars(a))
        args = []
        for arg in spec.positional:
            dest = arg.partition(":")[0].rstrip("+*")
            value = values.pop(dest)
            args.append(_model(shell, value) if dest in spec.models else value)
        keywords = {k: v for k, v in values.items() if v is not None}
        return getattr(interp, analysis)(*args, **keywords, **spec.fixed)

    return run_analysis


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
    parser = (dict.get(COMMANDS, name) or COMMANDS[name])[0]  # a listed command needs no completion
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


def help_text(declared: bool = True) -> str:
    """Every command: its usage and what it does (generated from :data:`COMMANDS`; ``declared=False``: without
    importing the analyses for the commands they declare, unless that was done already)."""
    lines = ["%interp commands (a result displays as its view):"]
    for name, (parser, _) in COMMANDS.items() if declared else dict.items(COMMANDS):
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
    name = _named(shell, a.name)
    # a variable named after the model: a folder's last part (``/models/gpt2`` -> ``gpt2``), a hub id's name
    var = rest[1] if rest else re.sub(r"\W", "_", name.rstrip("/").rsplit("/", 1)[-1] or name).strip("_")
    _check_var(shell, var, given=bool(rest))
    model = interp.load(name)
    if var in shell.user_ns:
        print(f"{var} held {_what(shell.user_ns[var])}; it now holds the loaded model")
    shell.user_ns[var] = model
    print(f"{var} = {model!r}")


_VAR = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "display", "exit", "quit"}


def _named(shell: Any, name: str) -> str:
    """The model name: as written, or, written ``{VAR}``, the string the variable VAR holds. The magics expand
    nothing else (IPython's own ``{var}``/``$var`` expansion is off, so texts reach the analyses as typed)."""
    import interp

    match = _VAR.match(name)
    if match is None:
        return name
    value = shell.user_ns.get(match.group(1))
    if not isinstance(value, str):
        raise interp.InterpError(
            f"{name} names the variable {match.group(1)!r}, which "
            f"{'is not defined' if match.group(1) not in shell.user_ns else 'does not hold a string'}: set it to "
            "a model name or folder first, or write the name itself"
        )
    return value


def _check_var(shell: Any, var: str, given: bool) -> None:
    """A variable the magic may assign: an identifier that is not a keyword, a builtin or IPython's own."""
    hint = "pick another name with 'as VAR'" if given else "add 'as VAR' with a name of your own"
    if not var.isidentifier():
        raise _UsageError(f"%interp load: {echo(var)} is not a valid variable name; {hint}")
    hidden = getattr(shell, "user_ns_hidden", {}) or {}
    if var.startswith("_") or var in _IPYTHON_NAMES or (var in hidden and not hasattr(builtins, var)):
        why = "one of IPython's own names"
    elif keyword.iskeyword(var) or keyword.issoftkeyword(var):
        why = "a Python keyword"
    elif hasattr(builtins, var):
        why = "a Python builtin"
    else:
        return
    raise _UsageError(f"%interp load: {var!r} is {why}; {hint}")


def _what(value: Any) -> str:
    return f"a {type(value).__name__}" if not isinstance(value, (str, int, float)) else echo(value, 60)


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
    "token attribution of the answer at the read position (--baseline pad|mask|zero|unk; --hook NAME: to one "
    "hook point's activation)",
    "var",
    'text:"text"',
    answer={},
    contrast={},
    method={"default": "integrated_gradients"},
    steps={"type": int, "default": 50},
    baseline={},
    hook={},
)
def _attribute(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    return interp.attribute(
        _model(shell, a.var),
        a.text,
        answer=a.answer,
        contrast=a.contrast,
        method=a.method,
        n_steps=a.steps,
        baseline=a.baseline,
        hook=a.hook,
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
    "pairs",
    "which sentence of each minimal pair (a BLiMP-format JSONL file) each model prefers",
    'file:"pairs.jsonl"',
    "vars+:VAR",
    method={},
    seed={"type": int, "default": 0},
)
def _pairs(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    models = [_model(shell, v) for v in a.vars]
    return interp.minimal_pairs(models, a.file, method=a.method, seed=a.seed, progress=False)


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
    hook={"default": "resid_post", "metavar": "resid_post|attn_out|mlp_out|z|q|k|v|pattern"},
    by={"default": "position", "metavar": "position|head|head_position"},
    metric={"metavar": "logit_diff|logprob_diff|prob"},
    direction={"default": "denoise", "metavar": "denoise|noise"},
    answer={},
    contrast={},
)
def _patch(shell: Any, a: argparse.Namespace) -> Any:
    import interp

    model = _model(shell, a.var)
    return interp.patch(
        model,
        a.clean,
        a.corrupt,
        hook=a.hook,
        by=a.by,
        metric=a.metric,
        direction=a.direction,
        answer=a.answer,
        contrast=a.contrast,
        progress=False,
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
    if rest and rest[0] in ("-h", "--help"):  # the command's own usage (the parsers add no -h of their own)
        print(parser.format_help().rstrip())
        return None
    return fn(shell, parser.parse_args(rest))


def load_ipython_extension(ipython: Any) -> None:
    from IPython.core.magic import no_var_expand

    @no_var_expand  # texts reach the analyses as typed: "{x}" and "$x" are not replaced by variables
    def interp_magic(line: str) -> Any:
        import interp

        try:
            return run(ipython, line)
        except (interp.InterpError, _UsageError, ValueError) as err:
            print(f"interp: {err}", file=sys.stderr)
            return None

    interp_magic.__doc__ = help_text(declared=False)
    ipython.register_magic_function(interp_magic, magic_kind="line", magic_name="interp")


def unload_ipython_extension(ipython: Any) -> None:
    ipython.magics_manager.magics["line"].pop("interp", None)
