"""``python -m interp demo``: the main job behind ``make demo``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interp", description="interp command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compare the two zoo models and write an offline HTML report")
    demo.add_argument("--out", default="demo.html", help="where to write the report (default: demo.html)")
    sub.add_parser("hooks", help="print the hook points of the embedded causal model")
    args = parser.parse_args(argv)
    from interp.demo import hooks_summary, run_demo

    if args.command == "hooks":
        print(hooks_summary())
        return 0
    return run_demo(args.out)


if __name__ == "__main__":
    sys.exit(main())
