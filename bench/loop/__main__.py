"""bench/loop: the feedback loop closed end to end with simulated people, judged so that a
trivial bot cannot pass (issue 21). The steps are in bench/loop/run.py, the people in
bench/loop/raters.py and relevance.py, the checks in bench/loop/report.py.

Run: .venv/bin/python -m bench.loop [--seeds 0,1,2] [--method ppo|rloo|kto] [--out DIR]
[--rm-base all-minilm-l6-v2 --rm-pairs 3000]
(--tiny: a smoke run in a few minutes on a tiny random model, for tests; its figures mean
nothing and its checks are printed, not enforced). Exit status 1 when a check fails on any seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench.loop.plan import METHODS, TINY, Plan
from bench.loop.report import checks, over_seeds, show, show_seeds
from bench.loop.run import run
from tests import services
from training.encoder import ENCODER

BENCH_REDIS_DB = 15


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, run one by one")
    parser.add_argument("--out", type=Path, help="folder for the runs and the reports")
    parser.add_argument("--database", help="store URL (default: a SQLite file a seed)")
    parser.add_argument(
        "--broker",
        default=services.redis_url().rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}",
        help=f"Redis for the queues; its Celery keys are deleted (default: database "
        f"{BENCH_REDIS_DB} of REPLYLOOP_TEST_REDIS_URL)",
    )
    parser.add_argument("--method", choices=METHODS, default="ppo", help="how the policy learns")
    parser.add_argument(
        "--members", type=int, help="raters who see each reply (default: the plan's)"
    )
    parser.add_argument("--round0", type=int, help="replies rated in round 0 (default: the plan's)")
    parser.add_argument(
        "--rm-pairs",
        type=int,
        default=0,
        help="chitchat response-selection pairs each reward model also learns from (default 0)",
    )
    parser.add_argument(
        "--rm-base",
        default="",
        help="the reward models' base: the served model (default), or "
        f"{ENCODER!r}, an encoder whose head is trained (training/encoder.py)",
    )
    parser.add_argument(
        "--trainer-arg",
        action="append",
        default=[],
        metavar="OPTION",
        help="an option for the method's trainer after the plan's, e.g. "
        "--trainer-arg=--learning-rate=3e-5 (repeatable)",
    )
    parser.add_argument(
        "--rm-arg",
        action="append",
        default=[],
        metavar="OPTION",
        help="an option for both reward models after the plan's (repeatable)",
    )
    parser.add_argument("--tiny", action="store_true", help="smoke run on a tiny random model")
    args = parser.parse_args(argv)
    out = (args.out or Path(tempfile.mkdtemp(prefix="replyloop-bench-loop-"))).resolve()
    reports = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        plan = replace(TINY if args.tiny else Plan(), seed=seed, method=args.method)
        if args.members is not None:
            plan = replace(plan, members=args.members)
        if args.round0 is not None:
            plan = replace(plan, round0=args.round0)
        if args.rm_pairs:
            plan = replace(plan, rm_pairs=args.rm_pairs)
        if args.rm_base:
            plan = replace(plan, rm_base=args.rm_base)
        plan = plan.with_args(args.trainer_arg, args.rm_arg)
        folder = out / f"seed-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        report = run(plan, folder, args.tiny, args.broker, args.database)
        (folder / "loop-report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
        show(report)
        reports.append(report)
    summary = over_seeds(reports)
    (out / "seeds.json").write_text(json.dumps(summary, indent=2))
    show_seeds(summary)
    print(f"  reports: {out}/seed-*/loop-report.json, {out / 'seeds.json'}")
    failed = [r["plan"]["seed"] for r in reports if not all(ok for ok, _ in checks(r).values())]
    if failed and not args.tiny:
        print(f"FAILED: checks not met on seeds {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
