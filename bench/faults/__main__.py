"""python -m bench.faults [scenario ...] [--list] [--messages N] [--wait S] [--set NAME=VALUE]

Runs each scenario (all with none named) against the real system and prints one table.
Every setting is the default unless --set gives it, e.g. --set REPLYLOOP_TELEGRAM_STREAM=false
(each reply sent whole, never edited): the processes do not inherit this shell's REPLYLOOP_*
variables, and a name no settings class knows is ignored as in any environment."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.faults.harness import Options
from bench.faults.scenarios import SCENARIOS
from bench.faults.table import render
from bench.faults.traffic import WAIT_S, Outcome
from workers.tiny_model import make_tiny_model


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenarios", nargs="*", metavar="scenario", help="default: all")
    parser.add_argument("--list", action="store_true", help="name each scenario and stop")
    parser.add_argument("--messages", type=int, default=40, help="messages per scenario")
    parser.add_argument(
        "--wait", type=float, default=WAIT_S, help="seconds after a fault for its messages"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        type=setting,
        metavar="NAME=VALUE",
        help="an environment variable for every worker and adapter (repeatable)",
    )
    args = parser.parse_args()
    if args.list:
        for name, scenario in SCENARIOS.items():
            print(f"{name:18} {(scenario.__doc__ or '').strip().splitlines()[0]}")
        return 0
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; --list names them")
    home = Path(tempfile.mkdtemp(prefix="replyloop-faults-"))
    options = Options(
        home, make_tiny_model(home / "tiny"), args.messages, args.wait, dict(args.set)
    )
    outcomes: list[Outcome] = []
    failed = 0
    for name in args.scenarios or list(SCENARIOS):
        started = time.monotonic()
        print(f"{name} ...", file=sys.stderr, flush=True)
        try:
            outcomes.extend(SCENARIOS[name](options))
        except Exception:  # one broken scenario must not hide the others' figures
            failed += 1
            traceback.print_exc()
        print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(render(outcomes, args.wait))
    if options.settings:  # the table is read without the command line that made it
        print("set: " + ", ".join(f"{k}={v}" for k, v in options.settings.items()))
    print(f"logs: {home}", file=sys.stderr)
    return 1 if failed else 0


def setting(text: str) -> tuple[str, str]:
    """NAME=VALUE, as --set takes it."""
    name, equals, value = text.partition("=")
    if not name or not equals:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


if __name__ == "__main__":
    sys.exit(main())
