"""The `hippo` command: one subcommand per process or tool.

Each subcommand lives beside the code it runs and exposes `register(subparsers)`;
this module only gathers them, so `hippo --help` stays cheap to import.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, attribute) of each subcommand's register function, in help order.
SUBCOMMANDS = [
    ("hippo.api.cli", "register"),
    ("hippo.worker.cli", "register"),
    ("hippo.devmaster.cli", "register"),
    ("hippo.dev", "register"),
    ("hippo.restclient", "register"),
    ("hippo.api.rotate", "register"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hippo",
        description=__doc__.splitlines()[0],
        epilog="--url, --token and --json of the API client's commands may come before the "
        "command too: hippo --url http://host:8080 tasks list. `hippo COMMAND --help` "
        "says more about each.",
    )
    from hippo.restclient.commands import add_top_flags

    add_top_flags(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    def usage(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(run=usage)
    for module_name, attribute in SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue  # a subcommand still being built
        getattr(module, attribute)(subparsers)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.run(args) or 0)
