"""The ``%interp`` line magic: ``%load_ext interp``, then ``%interp help``.

Thin: each sub-command parses its arguments and calls the public API. Errors print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

HELP = """%interp commands (a result displays as its view):
  %interp load NAME [as VAR]                      load a model (tiny-causal, tiny-bidirectional, a folder, a hub id)
  %interp hooks VAR                               list the model's hook points
  %interp attention VAR "text"                    attention patterns and time-view statistics
  %interp lens VAR "text" [--answer A] [--position P]
  %interp attribute VAR "text" [--answer A] [--contrast C] [--method M] [--steps N]
  %interp compare CAUSAL BIDI "probe with ___" [--answer A]
  %interp ablate VAR "text" L.H [L.H ...] [--mode zero|mean] [--answer A]
  %interp patch VAR "clean" "corrupt" [--hook resid_post|attn_out|mlp_out] [--answer A] [--contrast C]
  %interp help                                    this text"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _parser(name: str, *positional: str, **options: Any) -> _Parser:
    p = _Parser(prog=f"%interp {name}", add_help=False)
    for arg in positional:
        nargs = "+" if arg.endswith("+") else None
        p.add_argument(arg.rstrip("+"), nargs=nargs)
    for opt, kw in options.items():
        p.add_argument(f"--{opt}", **kw)
    return p


PARSERS = {
    "hooks": _parser("hooks", "var"),
    "attention": _parser("attention", "var", "text"),
    "lens": _parser("lens", "var", "text", answer={}, position={"type": int}),
    "attribute": _parser(
        "attribute",
        "var",
        "text",
        answer={},
        contrast={},
        method={"default": "integrated_gradients"},
        steps={"type": int, "default": 50},
    ),
    "compare": _parser("compare", "causal", "bidirectional", "probe", answer={}),
    "ablate": _parser("ablate", "var", "text", "heads+", mode={"default": "zero"}, answer={}),
    "patch": _parser(
        "patch", "var", "clean", "corrupt", hook={"default": "resid_post"}, answer={}, contrast={}
    ),
}


def _model(shell: Any, var: str):
    import interp

    obj = shell.user_ns.get(var)
    if not isinstance(obj, interp.Model):
        raise interp.InterpError(f"{var!r} is not a loaded model: run %interp load NAME as {var}")
    return obj


def _heads(items: list[str]) -> list[tuple[int, int]]:
    import interp

    out = []
    for item in items:
        try:
            layer, head = item.split(".")
            out.append((int(layer), int(head)))
        except ValueError:
            raise interp.InterpError(f"heads are written LAYER.HEAD (e.g. 0.3), not {item!r}") from None
    return out


def run(shell: Any, line: str) -> Any:
    """Execute one ``%interp`` line; return what the cell should display."""
    import interp

    words = shlex.split(line)
    if not words or words[0] in ("help", "-h", "--help"):
        print(HELP)
        return None
    cmd, rest = words[0], words[1:]
    if cmd == "load":
        if len(rest) not in (1, 3) or (len(rest) == 3 and rest[1] != "as"):
            raise _UsageError("%interp load: usage: %interp load NAME [as VAR]")
        var = rest[2] if len(rest) == 3 else rest[0].replace("-", "_").replace("/", "_").replace(".", "_")
        if not var.isidentifier():
            raise _UsageError(f"%interp load: {var!r} is not a valid variable name; add 'as VAR'")
        model = interp.load(rest[0])
        shell.user_ns[var] = model
        print(f"{var} = {model!r}")
        return None
    if cmd not in PARSERS:
        raise _UsageError(f"%interp: unknown command {cmd!r}; %interp help lists them")
    a = PARSERS[cmd].parse_args(rest)
    if cmd == "hooks":
        names = _model(shell, a.var).hook_names()
        print("\n".join(names))
        return None
    if cmd == "attention":
        return interp.attention(_model(shell, a.var), a.text)
    if cmd == "lens":
        return interp.logit_lens(_model(shell, a.var), a.text, answer=a.answer, position=a.position)
    if cmd == "attribute":
        return interp.attribute(
            _model(shell, a.var),
            a.text,
            answer=a.answer,
            contrast=a.contrast,
            method=a.method,
            n_steps=a.steps,
        )
    if cmd == "compare":
        return interp.compare(
            _model(shell, a.causal), _model(shell, a.bidirectional), a.probe, answer=a.answer
        )
    if cmd == "ablate":
        return interp.ablate(_model(shell, a.var), a.text, _heads(a.heads), mode=a.mode, answer=a.answer)
    if cmd == "patch":
        return interp.patch(
            _model(shell, a.var),
            a.clean,
            a.corrupt,
            hook=a.hook,
            answer=a.answer,
            contrast=a.contrast,
            progress=False,
        )
    raise AssertionError(cmd)


def load_ipython_extension(ipython: Any) -> None:
    def interp_magic(line: str) -> Any:
        import interp

        try:
            return run(ipython, line)
        except (interp.InterpError, _UsageError, ValueError) as err:
            print(f"interp: {err}", file=sys.stderr)
            return None

    interp_magic.__doc__ = HELP
    ipython.register_magic_function(interp_magic, magic_kind="line", magic_name="interp")


def unload_ipython_extension(ipython: Any) -> None:
    ipython.magics_manager.magics["line"].pop("interp", None)
