"""Every command, option and argument of `oneonone` says what it is for, and
`oneonone --version` answers."""

from __future__ import annotations

import argparse
import subprocess
import sys

from service import __version__
from service.cli import build_parser
from tests.conftest import ROOT


def _walk(parser: argparse.ArgumentParser, path: str):
    """(where, action) for every action of `parser` and of its subcommands, recursively."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", helped.get(name)
                yield from _walk(sub, f"{path} {name}")
        else:
            yield f"{path} {'/'.join(action.option_strings) or action.dest}", action.help


def test_every_command_option_and_argument_has_help():
    walked = list(_walk(build_parser(), "oneonone"))
    assert len(walked) > 40  # the walk reached the subcommands
    missing = [where for where, text in walked if not text or text == argparse.SUPPRESS or not text.strip()]
    assert missing == []


def test_help_renders_for_every_command():
    """%-placeholders in help texts are expanded by argparse: a broken one raises here."""

    def render(parser: argparse.ArgumentParser) -> None:
        parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    render(sub)

    render(build_parser())


def test_version_is_printed():
    out = subprocess.run(
        [sys.executable, "-m", "service.cli", "--version"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"oneonone {__version__}"
