"""`replyloop model canary V [--share 20] | status | stop`: try a model on a share of new
conversations beside the promoted one (core.store.canaries); gpu workers serve it
(workers.canary) and promote it or stop it when the sequential test (core.sequential)
decides."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import select

from core.errors import CanaryError
from core.sequential import Arm, Rule, decide
from core.store import Store, canaries, registry
from core.store.canaries import Canary
from core.store.schema import turns

ACTIONS = ("status", "stop")


def add_parser(msub: Any) -> None:
    """`canary`, on the `model` subcommand's subparsers."""
    canary = msub.add_parser(
        "canary",
        help="try a model on a share of new conversations; promoted or stopped by its votes",
        description="replyloop model canary V [--share 20]: start; `status`: each arm's "
        "approval and the test's state; `stop`: everyone back on the promoted model.",
    )
    canary.add_argument("what", metavar="V|status|stop", help="a registered version, or an action")
    canary.add_argument(
        "--share", type=int, default=20, help="percent of new conversations it answers (1-99)"
    )
    defaults = Rule()
    canary.add_argument(
        "--alpha",
        type=float,
        default=defaults.alpha,
        help="the most the test may decide wrongly when the two are equal "
        f"(default {defaults.alpha})",
    )
    canary.add_argument(
        "--tau",
        type=float,
        default=defaults.tau,
        help=f"the difference in approval it is tuned to find fastest (default {defaults.tau})",
    )
    canary.add_argument(
        "--min-votes",
        type=int,
        default=defaults.min_votes,
        help=f"votes on each arm before any decision (default {defaults.min_votes})",
    )
    canary.add_argument(
        "--max-votes",
        type=int,
        default=defaults.max_votes,
        help="votes on the canary's arm after which it stops undecided "
        f"(default {defaults.max_votes})",
    )


def run(store: Store, args: argparse.Namespace) -> int:
    if args.what == "status":
        return status(store)
    if args.what == "stop":
        stopped = canaries.stop(store)
        print(
            f"stopped the canary of {stopped.version}: every conversation gets {stopped.incumbent}"
        )
        return 0
    try:
        rule = Rule(args.alpha, args.tau, args.min_votes, args.max_votes)
    except ValueError as exc:
        raise CanaryError(str(exc)) from None
    registry.get(store, args.what)  # an unknown version is said before anything else
    started = canaries.start(store, args.what, args.share, serving(store), rule)
    print(
        f"canary {started.version}: {started.share}% of new conversations (from conversation "
        f"{started.from_conversation} on) against {started.incumbent}; gpu workers load it "
        "within a second or two. `replyloop model canary status` shows how it goes."
    )
    return 0


def serving(store: Store) -> str:
    """The version the other conversations get: the promoted one, else (REPLYLOOP_MODEL,
    whose version only the workers know) the newest reply's."""
    record = registry.promoted(store)
    if record is not None:
        return record.version
    with store.engine.connect() as conn:
        newest = conn.execute(select(turns.c.model_version).order_by(turns.c.id.desc()).limit(1))
        version = newest.scalar()
    if version is None:
        raise CanaryError(
            "nothing has answered yet, so there is nothing to compare a canary with: let the "
            "bot reply once, or promote a model (`replyloop model promote V`)"
        )
    return str(version)


def status(store: Store) -> int:
    now = canaries.running(store)
    if now is None:
        ended = canaries.history(store)
        if not ended:
            print("no canary has run (`replyloop model canary V --share 20` starts one)")
            return 0
        last = ended[-1]
        print(
            f"no canary runs; the last, of {last.version}, ended {last.verdict} at "
            f"{last.ended_at:%Y-%m-%d %H:%M} UTC"
        )
        if last.figures:
            arms = (Arm(**last.figures["canary"]), Arm(**last.figures["incumbent"]))
            show(last, *arms)
        return 0
    print(
        f"canary {now.version} on {now.share}% of new conversations (from conversation "
        f"{now.from_conversation} on) against {now.incumbent}, since "
        f"{now.started_at:%Y-%m-%d %H:%M} UTC"
    )
    show(now, *canaries.arms(store, now))
    return 0


def show(canary: Canary, ours: Arm, theirs: Arm) -> None:
    """Each arm's approval with its 95 % interval, and the test's state."""
    print(f"  {'arm':28} {'votes':>6} {'👍':>6} {'approval':>9}  95% interval")
    for name, arm in (
        (f"canary {canary.version}", ours),
        (f"incumbent {canary.incumbent}", theirs),
    ):
        low, high = arm.interval()
        shown = f"{arm.approval:9.1%}" if arm.votes else f"{'-':>9}"
        print(f"  {name[:28]:28} {arm.votes:6} {arm.up:6} {shown}  [{low:.1%}, {high:.1%}]")
    rule = canary.rule
    decision = decide(ours, theirs, rule)
    low, high = decision.bound
    print(
        f"  difference {100 * decision.difference:+.1f} points, always-valid "
        f"{1 - rule.alpha:.0%} interval [{100 * low:+.1f}, {100 * high:+.1f}]; mixture ratio "
        f"{decision.ratio:.3g} of {1 / rule.alpha:.3g} needed (p {decision.p_value:.3g})"
    )
    print(
        f"  state: {canary.verdict or decision.verdict.value} (decides once the ratio reaches "
        f"{1 / rule.alpha:.3g} with {rule.min_votes} votes or more an arm; stops undecided at "
        f"{rule.max_votes} on the canary's arm)"
    )
