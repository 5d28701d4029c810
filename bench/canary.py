"""bench/canary: how many votes the canary's sequential test (core/sequential.py) needs to
decide, and how often it decides wrongly, with simulated voters.

Each simulated canary gets votes one at a time; each vote falls on the canary's arm with
probability `share` (the canary's share of conversations) and is 👍 with the arm's
approval. The test is looked at after every vote, as a canary that is checked all the
time would be: the worst case for a test that is not built for it. Per difference in
approval (canary minus incumbent), the table shows the share of canaries promoted, rolled
back and stopped as inconclusive, how often the decision was wrong (any promotion or
roll-back when the arms are equal; the wrong direction otherwise), and the median votes
(all, and on the canary's arm) at the decision.

Run: .venv/bin/python -m bench.canary [--runs 400] [--share 0.2] [--base 0.5] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from core.sequential import Arm, Rule, Verdict, decide

DIFFERENCES = (-0.20, -0.10, -0.05, 0.0, 0.05, 0.10, 0.20)


@dataclass(frozen=True)
class Ended:
    verdict: Verdict
    votes: int
    canary_votes: int


def one_canary(
    rng: random.Random, base: float, difference: float, share: float, rule: Rule
) -> Ended:
    """Votes until the test's decision (or its max_votes)."""
    up = [0, 0]  # canary, incumbent
    votes = [0, 0]
    approval = (base + difference, base)
    while True:
        arm = 0 if rng.random() < share else 1
        votes[arm] += 1
        up[arm] += rng.random() < approval[arm]
        if arm == 1 and votes[0] < rule.min_votes:
            continue  # nothing can change until the canary's arm has its minimum
        decision = decide(Arm(up[0], votes[0]), Arm(up[1], votes[1]), rule)
        if decision.final:
            return Ended(decision.verdict, sum(votes), votes[0])


def wrong(verdict: Verdict, difference: float) -> bool:
    if difference == 0:
        return verdict in (Verdict.BETTER, Verdict.WORSE)
    return verdict == (Verdict.WORSE if difference > 0 else Verdict.BETTER)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=400, help="simulated canaries a difference")
    parser.add_argument("--share", type=float, default=0.2, help="the canary's share")
    parser.add_argument("--base", type=float, default=0.5, help="the incumbent's approval")
    parser.add_argument("--alpha", type=float, default=Rule.alpha)
    parser.add_argument("--tau", type=float, default=Rule.tau)
    parser.add_argument("--min-votes", type=int, default=Rule.min_votes)
    parser.add_argument("--max-votes", type=int, default=Rule.max_votes)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rule = Rule(args.alpha, args.tau, args.min_votes, args.max_votes)
    print(
        f"canary share {args.share:.0%}, incumbent approval {args.base:.0%}, {args.runs} canaries "
        f"a row, looked at after every vote; alpha {rule.alpha}, tau {rule.tau}, "
        f"min {rule.min_votes} votes an arm, max {rule.max_votes} on the canary's"
    )
    header = f"{'difference':>10}  {'promoted':>8}  {'rolled back':>11}  {'inconclusive':>12}  "
    header += f"{'wrong':>6}  {'median votes':>12}  {'on canary':>9}"
    print(header)
    worst = 0.0
    for difference in DIFFERENCES:
        rng = random.Random(f"{args.seed}:{difference}")
        started = time.monotonic()
        ended = [one_canary(rng, args.base, difference, args.share, rule) for _ in range(args.runs)]
        share = {v: sum(e.verdict == v for e in ended) / len(ended) for v in Verdict}
        wrong_share = sum(wrong(e.verdict, difference) for e in ended) / len(ended)
        worst = max(worst, wrong_share)
        print(
            f"{difference:>+10.2f}  {share[Verdict.BETTER]:>8.1%}  {share[Verdict.WORSE]:>11.1%}  "
            f"{share[Verdict.INCONCLUSIVE]:>12.1%}  {wrong_share:>6.1%}  "
            f"{statistics.median(e.votes for e in ended):>12.0f}  "
            f"{statistics.median(e.canary_votes for e in ended):>9.0f}"
            f"   ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
    met = worst <= rule.alpha
    print(
        f"check wrong decisions: {'met' if met else 'NOT MET'}: at most {worst:.1%} "
        f"(target <= {rule.alpha:.0%})"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
