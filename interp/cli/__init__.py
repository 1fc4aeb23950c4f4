"""The command line: ``python -m interp demo | hooks | docs`` (the jobs behind ``make demo`` and ``make docs``)."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp", description="interp command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compare the two zoo models and write an offline HTML report")
    demo.add_argument("--out", default="demo.html", help="where to write the report (default: demo.html)")
    sub.add_parser("hooks", help="print the hook points of the embedded causal model")
    docs = sub.add_parser(
        "docs", help="generate the API reference, hook table and zoo page into a docs folder"
    )
    docs.add_argument("folder", nargs="?", default="docs", help="the docs folder (default: docs)")
    args = parser.parse_args(argv)
    if args.command == "docs":
        from interp.cli.docgen import main as docgen

        return docgen([args.folder])
    from interp.cli.demo import hooks_summary, run_demo

    if args.command == "hooks":
        print(hooks_summary())
        return 0
    return run_demo(args.out)
