"""The ``yardarm`` command: day-to-day tasks for people, and project tooling.

Subcommands are small functions taking parsed arguments. The ones that talk to a cluster live in
:mod:`yardarm.cli_cluster` and import the ``kubernetes`` package only when they run, so ``yardarm
crds`` and ``yardarm version`` need nothing beyond the core dependencies.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from yardarm import __version__


def _cmd_crds(args: argparse.Namespace) -> int:
    from yardarm.api.crd import write_crds

    for path in write_crds(Path(args.root)):
        print(f"wrote {path}")
    return 0


def _cmd_version(args: argparse.Namespace) -> int:
    print(__version__)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, separate from :func:`main` so tests can inspect it."""
    parser = argparse.ArgumentParser(prog="yardarm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    crds = sub.add_parser("crds", help="write the CRDs generated from the API types into crds/ and the chart")
    crds.add_argument("--root", default=".", help="repository root (default: current directory)")
    crds.set_defaults(func=_cmd_crds)
    version = sub.add_parser("version", help="print the Yardarm version")
    version.set_defaults(func=_cmd_version)
    from yardarm.cli_cluster import add_commands

    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.func.__module__ == "yardarm.cli_cluster":
        from yardarm.cli_cluster import run

        return run(args)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
