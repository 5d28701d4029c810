"""`replyloop ... --help`: every subcommand, positional and option says what it is for."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from replyloop.cli import parser


def walk(
    command: argparse.ArgumentParser, path: str = "replyloop"
) -> Iterator[tuple[str, argparse.Action]]:
    """(where, action) for every action of `command` and its subcommands, -h left out;
    a subcommand's own entry (its line in the parent's --help) counts as an action."""
    for action in command._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        yield path, action
        if isinstance(action, argparse._SubParsersAction):
            yield from ((path, entry) for entry in action._choices_actions)
            for name, sub in action.choices.items():
                yield from walk(sub, f"{path} {name}")


def test_every_subcommand_positional_and_option_has_help() -> None:
    found = list(walk(parser()))
    silent = [
        f"{where}: {'/'.join(action.option_strings) or action.dest}"
        for where, action in found
        if not (action.help or "").strip() or action.help == argparse.SUPPRESS
    ]
    assert silent == []
    reached = {where for where, _ in found}
    assert {"replyloop model register", "replyloop train ppo", "replyloop eval"} <= reached
