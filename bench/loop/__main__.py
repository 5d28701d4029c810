"""bench/loop: the feedback loop closed end to end, with simulated people.

Real Redis, a real store, a real `replyloop worker gpu` and `replyloop worker io`; every
step after the chats is the command a team would run.

  round 0  the served model (the default) answers chitchat openers, each in a chat of its
           own; a panel of simulated raters (bench/loop/raters.py, a rule the policy never
           sees) votes 👍/👎 on every reply through the vote task
  export   replyloop feedback export --format kto
  rm       replyloop train rm --votes (the pointwise loss on 👍/👎), from the served model
  ppo      replyloop train ppo --prompts (the exported prompts) against that reward model
  promote  replyloop model promote; the running gpu worker switches without a restart
  round 1  held-out openers, a held-out panel of raters, the same pipeline

Printed: approval (share of 👍) in both rounds, the held-out panel's verdict on the round-0
replies as a control, the faults the rule found, and KL(new ‖ old) along round 1's replies.
Target on the 2-core CPU: approval up >= 15 points, KL < 10 nats per reply, <= 60 minutes.

Run: .venv/bin/python -m bench.loop [--seed 0] [--out DIR]   (--tiny: a smoke run in a
minute on a tiny random model, for tests; its figures mean nothing)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from statistics import mean
from typing import Any

from bench.loop.chats import Cast, Served, approval, rate, serve
from bench.loop.kl import served_kl
from bench.loop.prompts import split_openers
from bench.loop.raters import assign, faults, on_topic, panel
from core.settings import Settings
from core.store import registry
from replyloop.bootstrap import bootstrap
from replyloop.model_refs import model_ref, run_version
from tests import services
from tests.integration.workers import (
    clean_env,
    delete_celery_keys,
    replyloop_command,
    start_workers,
)
from workers.tiny_model import make_tiny_model

BENCH_REDIS_DB = 15
DEFAULT_MODEL = "smollm2-135m-instruct"


@dataclass
class Plan:
    """Every setting of a run; the report repeats it whole."""

    seed: int = 0
    round0: int = 320
    round1: int = 256
    panel_size: int = 12
    raters_per_reply: int = 3
    held_out_percent: float = 20.0
    max_new_tokens: int = 48
    in_flight: int = 16
    rm: list[str] = field(
        default_factory=lambda: [
            "--freeze-layers", "24", "--learning-rate", "3e-4", "--max-length", "192",
            "--batch-size", "8", "--vote-epochs", "4", "--held-out-percent", "10",
        ]
    )  # fmt: skip
    ppo: list[str] = field(
        default_factory=lambda: [
            "--rollout-batch", "8", "--minibatch", "4", "--ppo-epochs", "2",
            "--freeze-layers", "24", "--learning-rate", "2e-5", "--init-kl-coef", "0.05",
            "--max-prompt-tokens", "128", "--steps", "300", "--max-minutes", "35",
        ]
    )  # fmt: skip


TINY = Plan(
    round0=24,
    round1=16,
    panel_size=4,
    raters_per_reply=2,
    max_new_tokens=6,
    in_flight=8,
    rm=["--batch-size", "4", "--vote-epochs", "1", "--held-out-percent", "20"],
    ppo=["--steps", "2", "--rollout-batch", "4", "--minibatch", "2", "--ppo-epochs", "1"],
)


class Clock:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.started = time.monotonic()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        print(f"\n== {name}", file=sys.stderr, flush=True)
        began = time.monotonic()
        yield
        self.stages[name] = round((time.monotonic() - began) / 60, 2)

    @property
    def minutes(self) -> float:
        return round((time.monotonic() - self.started) / 60, 2)


def cli(env: dict[str, str], cwd: Path, *args: str) -> None:
    """A `replyloop` command as a person runs it: its progress on this terminal."""
    print("$ replyloop " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run([*replyloop_command(), *args], env=env, cwd=cwd, check=True)


def summary(served: Sequence[Served], casts: Sequence[Cast], max_words: int) -> dict[str, Any]:
    """Approval, the rule's verdict without noise (at the raters' median length limit),
    reply words and faults of one round."""
    found = [faults(s.message, s.reply, max_words) for s in served]
    return {
        "replies": len(served),
        "votes": len(casts),
        "approval": round(approval(casts), 4),
        "liked_by_rule": round(sum(not f for f in found) / len(found), 4),
        "mean_words": round(mean(len(s.reply.split()) for s in served), 2),
        "mean_new_tokens": round(mean(s.new_tokens for s in served), 2),
        "on_topic": round(sum(on_topic(s.message, s.reply) for s in served) / len(served), 4),
        "distinct_replies": round(len({s.reply for s in served}) / len(served), 4),
        "faults": {
            name: round(sum(name in f for f in found) / len(found), 4)
            for name in ("empty", "parrots", "repeats", "long")
        },
        "model_versions": sorted({s.model_version for s in served}),
    }


def run(plan: Plan, out: Path, tiny: bool, broker: str, database: str | None) -> dict[str, Any]:
    clock = Clock()
    delete_celery_keys(broker)
    model = str(make_tiny_model(out / "tiny")) if tiny else DEFAULT_MODEL
    settings = {
        "broker_url": broker,
        "database_url": database or f"sqlite:///{out / 'loop.db'}",
        "model": model,
        "max_new_tokens": str(plan.max_new_tokens),
        "torch_threads": "2",
        "data_dir": str(out / "data"),
    }
    if tiny:
        settings["cache_dir"] = str(out / "cache")
    env = clean_env(**settings)
    first, second = split_openers(plan.held_out_percent, plan.seed)
    if len(first) < plan.round0 or len(second) < plan.round1:
        raise SystemExit(f"only {len(first)} and {len(second)} openers for the two rounds")
    panel_a = panel(plan.seed, "A", plan.panel_size)
    panel_b = panel(plan.seed, "B", plan.panel_size)
    median_limit = sorted(r.max_words for r in panel_a + panel_b)[plan.panel_size]
    workers = start_workers(env, out)
    try:
        rt = bootstrap(Settings(**settings, _env_file=None))  # type: ignore[arg-type]
        store = rt.store
        with clock.stage("round 0: the served model chats, panel A votes"):
            round0 = serve(store, broker, first[: plan.round0], "r0", plan.in_flight)
            votes0 = rate(round0, panel_a, plan.raters_per_reply, plan.seed)
        exported = out / "round0.kto.jsonl"
        runs = out / "runs"
        with clock.stage("export, reward model, PPO, promote"):
            cli(env, out, "feedback", "export", "--format", "kto", "--out", str(exported))
            cli(env, out, "train", "rm", "--base", model, "--votes", str(exported),
                "--out", str(runs / "rm"), "--seed", str(plan.seed), *plan.rm)  # fmt: skip
            cli(env, out, "train", "ppo", "--policy", model, "--reward", str(runs / "rm"),
                "--prompts", str(exported), "--out", str(runs / "ppo"),
                "--max-new-tokens", str(plan.max_new_tokens), "--seed", str(plan.seed),
                *plan.ppo)  # fmt: skip
            version = run_version(runs / "ppo", runs / "ppo" / "model")
            cli(env, out, "model", "promote", version)
        with clock.stage("round 1: the promoted model chats, held-out panel B votes"):
            round1 = serve(store, broker, second[: plan.round1], "r1", plan.in_flight)
            votes1 = rate(round1, panel_b, plan.raters_per_reply, plan.seed)
        with clock.stage("KL between the two models along round 1's replies"):
            baseline = model_ref(model, rt.settings, store).path
            kls = served_kl(runs / "ppo" / "model", baseline, round1, plan.max_new_tokens)
        rm = registry.find(store, run_version(runs / "rm", runs / "rm" / "model"))
        ppo_record = registry.find(store, version)
    finally:
        workers.stop()
        delete_celery_keys(broker)
    # What the held-out panel would have said of round 0 (not stored: a control for
    # the panels' difference in taste, and for the prompts')
    control = [
        Cast(s.turn_id, r.name, r.vote(s.message, s.reply, plan.seed, s.turn_id))
        for s in round0
        for r in assign(panel_b, plan.seed, s.turn_id, plan.raters_per_reply)
    ]
    return {
        "plan": asdict(plan),
        "model": model,
        "promoted": version,
        "round0": summary(round0, votes0, median_limit),
        "round1": summary(round1, votes1, median_limit),
        "control_panel_b_on_round0": round(approval(control), 4),
        "approval_gain_points": round(100 * (approval(votes1) - approval(votes0)), 1),
        "kl_per_reply": round(mean(kls), 3),
        "kl_max": round(max(kls), 3),
        "reward_model": rm.metrics if rm else None,
        "ppo": ppo_record.metrics if ppo_record else None,
        "minutes": {**clock.stages, "total": clock.minutes},
    }


def show(report: dict[str, Any]) -> None:
    r0, r1 = report["round0"], report["round1"]
    print(f"\nbench/loop, seed {report['plan']['seed']}, model {report['model']}")
    for name, r in (("round 0", r0), ("round 1", r1)):
        print(
            f"  {name}: {', '.join(r['model_versions'])}: approval {100 * r['approval']:.1f}% "
            f"of {r['votes']} votes on {r['replies']} replies; liked by the rule without "
            f"noise {100 * r['liked_by_rule']:.1f}%; {r['mean_words']:.1f} words a reply; "
            f"faults {r['faults']}; on topic (shares a content word with the message; not "
            f"in the rule) {100 * r['on_topic']:.1f}%; distinct {100 * r['distinct_replies']:.1f}%"
        )
    print(
        f"  control: panel B on round 0's replies {100 * report['control_panel_b_on_round0']:.1f}%"
    )
    print(
        f"  approval gain: {report['approval_gain_points']:+.1f} points (target +15); "
        f"KL(new || old) {report['kl_per_reply']:.2f} nats a reply (target < 10), "
        f"max {report['kl_max']:.2f}"
    )
    print(f"  minutes: {report['minutes']} (target: total <= 60)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="folder for the runs and the report")
    parser.add_argument("--database", help="store URL (default: a SQLite file in --out)")
    parser.add_argument(
        "--broker",
        default=services.redis_url().rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}",
        help=f"Redis for the queues; its Celery keys are deleted (default: database "
        f"{BENCH_REDIS_DB} of REPLYLOOP_TEST_REDIS_URL)",
    )
    parser.add_argument("--tiny", action="store_true", help="smoke run on a tiny random model")
    args = parser.parse_args(argv)
    plan = replace(TINY if args.tiny else Plan(), seed=args.seed)
    out = args.out or Path(tempfile.mkdtemp(prefix="replyloop-bench-loop-"))
    out.mkdir(parents=True, exist_ok=True)
    report = run(plan, out.resolve(), args.tiny, args.broker, args.database)
    (out / "loop-report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    show(report)
    print(f"  report: {out / 'loop-report.json'}")


if __name__ == "__main__":
    main()
