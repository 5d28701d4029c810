"""One seed of bench/loop: the loop closed through the real system, then judged.

round 0  the served model (the default) answers training-side chitchat openers, each in
         a chat of its own; panel A's raters (bench/loop/raters.py) vote sparsely and
         with noise through the vote task, as people in a chat do
export   replyloop feedback export --format kto
rm       replyloop train rm --train-part a: the reward model PPO or RLOO trains against
judge    replyloop train rm --train-part b, another seed: a judge the policy never saw,
         trained on the other half of the conversations
train    replyloop train ppo or rloo against the first, or kto on the votes themselves
         (--method); model promote; the running gpu worker switches without a restart
round 1  held-out openers served by the promoted model; panel B votes
eval     training.evaluate (what `replyloop eval` runs) on round 1's prompts: the policy,
         the base model, the base model cut to 12 words, a constant "ok" and the base
         model's best of n under the training RM (for kto: the rm above), each judged by
         the independent judge RM and by panel B's rule (every rater, every reply, no
         noise), with intervals
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from statistics import mean
from typing import Any

from bench.loop.chats import Served, approval, rate, serve
from bench.loop.judged import judged_row
from bench.loop.plan import Plan
from bench.loop.prompts import split_openers
from bench.loop.raters import panel
from bench.loop.relevance import Topic, topics
from core.settings import Settings
from core.store import registry
from replyloop.bootstrap import bootstrap
from replyloop.model_refs import model_ref, run_version
from tests.integration.workers import (
    clean_env,
    delete_celery_keys,
    replyloop_command,
    start_workers,
)
from training.eval_table import BASELINE, POLICY, jsonable
from training.evaluate import evaluate
from training.evaluate_config import EvalConfig
from training.runs import RunFolder
from workers.tiny_model import make_tiny_model

DEFAULT_MODEL = "smollm2-135m-instruct"


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
    first, second = first[: plan.round0], second[: plan.round1]
    # Distractors from the same side: round 1's conversations are never looked at in round 0.
    about = {**topics(first, plan.seed), **topics(second, plan.seed)}
    panel_a = panel(plan.seed, "A", plan.panel_size)
    panel_b = panel(plan.seed, "B", plan.panel_size)
    runs = out / "runs"
    workers = start_workers(env, out)
    try:
        rt = bootstrap(Settings(**settings, _env_file=None))  # type: ignore[arg-type]
        store = rt.store
        with clock.stage("round 0: the served model chats, panel A votes"):
            round0 = serve(store, broker, [o.text for o in first], "r0", plan.in_flight)
            votes0 = rate(round0, panel_a, plan.members, plan.seed, about)
        exported = out / "round0.kto.jsonl"
        with clock.stage("export, reward model, judge, PPO, promote"):
            cli(env, out, "feedback", "export", "--format", "kto", "--out", str(exported))
            for name, part, seed in (("rm", "a", plan.seed), ("judge", "b", plan.seed + 1)):
                cli(env, out, "train", "rm", "--base", plan.rm_base or model,
                    "--votes", str(exported),
                    "--out", str(runs / name), "--seed", str(seed), "--train-part", part,
                    *plan.rm_args())  # fmt: skip
            cli(env, out, "train", plan.method, "--policy", model,
                *(["--votes", str(exported)] if plan.method == "kto" else
                  ["--reward", str(runs / "rm"), "--prompts", str(exported)]),
                *(["--max-new-tokens", str(plan.max_new_tokens)] if plan.method != "kto" else []),
                "--out", str(runs / "policy"), "--seed", str(plan.seed),
                *plan.trainer_args())  # fmt: skip
            version = run_version(runs / "policy", runs / "policy" / "model")
            cli(env, out, "model", "promote", version)
        with clock.stage("round 1: the promoted model chats, held-out panel B votes"):
            round1 = serve(store, broker, [o.text for o in second], "r1", plan.in_flight)
            votes1 = rate(round1, panel_b, plan.members, plan.seed, about)
        base = model_ref(model, rt.settings, store)
        judge = run_version(runs / "judge", runs / "judge" / "model")
        records = {
            name: registry.find(store, run_version(runs / name, runs / name / "model"))
            for name in ("rm", "judge")
        }
        policy_record = registry.find(store, version)
    finally:
        workers.stop()
        delete_celery_keys(broker)
    with clock.stage("eval: the policy and the baselines, judged twice"):
        summary = evaluate(
            runs / "policy" / "model",
            base.path,
            runs / "judge" / "model",
            [s.prompt for s in round1],
            RunFolder(out / "eval"),
            EvalConfig(
                max_new_tokens=plan.max_new_tokens,
                seed=plan.seed,
                best_of=plan.best_of,
                resamples=plan.resamples,
            ),
            {"policy": version, "baseline": base.version, "reward": judge},
            best_of_rm=runs / "rm" / "model",  # for a policy trained on the votes alone
        )
        rows = judged_rows(out / "eval" / "samples.jsonl", round1, panel_b, about, plan)
    return {
        "plan": asdict(plan),
        "model": model,
        "promoted": version,
        "served": {
            "round0": served_summary(round0, approval(votes0), len(votes0), about),
            "round1": served_summary(round1, approval(votes1), len(votes1), about),
        },
        "rows": {name: {**rows[name], **jsonable(summary["rows"][name])} for name in rows},
        "kl_per_reply": jsonable(summary["kl_per_reply"]),
        "judge": summary["judge"],
        "reward_model": records["rm"].metrics if records["rm"] else None,
        "judge_model": records["judge"].metrics if records["judge"] else None,
        "policy": policy_record.metrics if policy_record else None,
        "minutes": {**clock.stages, "total": clock.minutes},
    }


def judged_rows(
    samples: Path, served: list[Served], raters: list[Any], about: dict[str, Topic], plan: Plan
) -> dict[str, Any]:
    """Panel B's rule on every row of eval's samples (same prompts, same order)."""
    lines = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
    replies: dict[str, list[str]] = {POLICY: [], BASELINE: []}
    for line in lines:
        replies[POLICY].append(line["reply_a"])
        replies[BASELINE].append(line["reply_b"])
        for name, other in line["others"].items():
            replies.setdefault(name, []).append(other["reply"])
    messages = [s.message for s in served]
    return {
        name: jsonable(judged_row(raters, messages, texts, about, plan.resamples, plan.seed))
        for name, texts in replies.items()
    }


def served_summary(
    served: list[Served], approved: float, votes: int, about: dict[str, Topic]
) -> dict[str, Any]:
    """What the people of one round saw and said: their votes' approval, reply length,
    share answering the message, model versions."""
    return {
        "replies": len(served),
        "votes": votes,
        "approval": round(approved, 4),
        "answers": round(mean(about[s.message].answered_by(s.reply) for s in served), 4),
        "mean_words": round(mean(len(s.reply.split()) for s in served), 2),
        "model_versions": sorted({s.model_version for s in served}),
    }
