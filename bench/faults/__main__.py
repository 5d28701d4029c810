"""python -m bench.faults [scenario ...] [--list] [--messages N] [--wait S]

Runs each scenario (all with none named) against the real system and prints one table."""

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
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("scenarios", nargs="*", metavar="scenario", help="default: all")
    parser.add_argument("--list", action="store_true", help="name each scenario and stop")
    parser.add_argument("--messages", type=int, default=40, help="messages per scenario")
    parser.add_argument(
        "--wait", type=float, default=WAIT_S, help="seconds after a fault for its messages"
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
    options = Options(home, make_tiny_model(home / "tiny"), args.messages, args.wait)
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
    print(f"logs: {home}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
