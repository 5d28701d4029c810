"""`replyloop eval`: a policy against a baseline on held-out prompts, judged by a reward
model that neither was trained against (training.judge). Both answer the same prompts with
the serving settings; the report gives the judge's win rate of the policy, each model's
mean score and reply length, the KL of the policy to the baseline along the policy's
replies, and the same figures for trivial baselines (training.eval_table), each with a
bootstrap interval (training.bootstrap)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from core.types import ChatMessage
from training.bootstrap import mean_interval
from training.eval_replies import best_under, generate
from training.eval_report import write_report
from training.eval_table import (
    BASELINE,
    CONSTANT,
    CONSTANT_REPLY,
    POLICY,
    TRUNCATED,
    row_figures,
    truncated,
)
from training.evaluate_config import EvalConfig
from training.judge import choose_judge
from training.models import check_same_tokenizer, load_scorer, load_tokenizer
from training.prompt_fit import fit_prompts
from training.report import comparison_plot, training_curves
from training.runs import RunFolder
from training.scoring import reward_scores


def evaluate(
    policy_dir: Path,
    baseline_dir: Path,
    reward_dir: Path,
    prompts: Sequence[list[ChatMessage]],
    run: RunFolder,
    config: EvalConfig,
    names: dict[str, str],
    conversations: int | None = None,
    best_of_rm: Path | None = None,
) -> dict[str, Any]:
    """Generate, score, compare; write samples.jsonl, report.md, report.json and plots into
    `run`. `conversations`: how many held-out conversations the prompts were drawn from.
    `best_of_rm`: the reward model of the best-of-n baseline where the policy's run records
    none (a KTO or DPO policy: bench/loop gives the reward model it trained beside it).
    TrainingJudge (before any model loads) if `reward_dir` is the policy's or the
    baseline's training reward model and config.allow_training_judge is off."""
    if not prompts:
        raise ValueError("no prompts to evaluate on")
    judge = choose_judge(
        reward_dir,
        names.get("reward", str(reward_dir)),
        {POLICY: policy_dir, BASELINE: baseline_dir},
        config.allow_training_judge,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = load_tokenizer(policy_dir)
    # The baseline answers and is read through the policy's token ids (reply_kl).
    check_same_tokenizer(
        tokenizer,
        load_tokenizer(baseline_dir),
        f"the policy {policy_dir}",
        f"the baseline {baseline_dir}",
        "compare a policy with its own parent, or another model of the same family",
    )
    # Cut once, by whole turns: both models answer, and the reward model scores, the same.
    prompts = fit_prompts(tokenizer, prompts, config.max_prompt_tokens)
    chooser = judge.training_rm or best_of_rm
    best_of = config.best_of if chooser is not None else 0
    replies, kls, candidates = generate(
        policy_dir, baseline_dir, tokenizer, prompts, config, best_of
    )
    if best_of:
        assert chooser is not None
        under = "the training RM" if judge.training_rm is not None else "another RM"
        replies[f"best of {best_of} under {under}"] = best_under(
            chooser, prompts, candidates, device
        )
        best_note = f"run: the baseline's best of {best_of} replies under {chooser}"
    elif chooser is None:
        best_note = "not run: the policy's run.json records no training reward model"
    else:
        best_note = "not run (--best-of 0)"
    replies[TRUNCATED] = [truncated(reply) for reply in replies[BASELINE]]
    replies[CONSTANT] = [CONSTANT_REPLY] * len(prompts)
    scorer, scorer_tokenizer = load_scorer(reward_dir, device).eval(), load_tokenizer(reward_dir)
    scores = {
        name: reward_scores(scorer, scorer_tokenizer, prompts, texts, progress=f"eval: {name}")
        for name, texts in replies.items()
    }
    lengths = {
        name: [float(len(tokenizer(t, add_special_tokens=False)["input_ids"])) for t in texts]
        for name, texts in replies.items()
    }
    rows = {
        name: row_figures(
            prompts,
            replies[name],
            scores[name],
            scores[BASELINE],
            lengths[name],
            config.resamples,
            config.seed,
        )
        for name in (POLICY, BASELINE, *[n for n in replies if n not in (POLICY, BASELINE)])
    }
    summary: dict[str, Any] = {
        "policy": str(policy_dir),
        "baseline": str(baseline_dir),
        "reward": str(reward_dir),
        **names,
        "judge": judge.describe(),
        "prompts": len(prompts),
        "sampling": {
            "conversations": conversations,  # None: prompts given, not drawn by the CLI
            "per_conversation": config.per_conversation,
            "seed": config.seed,
            "resamples": config.resamples,
        },
        "win_rate": rows[POLICY]["win_rate"],
        "reward_policy": rows[POLICY]["judge_score"],
        "reward_baseline": rows[BASELINE]["judge_score"],
        "kl_per_reply": mean_interval(kls, config.resamples, config.seed),
        "length_policy": rows[POLICY]["length"],
        "length_baseline": rows[BASELINE]["length"],
        "rows": rows,
        "best_of_n": best_note,
    }
    _write_samples(run.root, prompts, replies, scores, kls)
    images = [comparison_plot(scores[POLICY], scores[BASELINE], kls, run.root)]
    trained = policy_dir.parent / "metrics.jsonl"  # the policy's own run folder, if it is one
    if trained.exists():
        metrics = [json.loads(line) for line in trained.read_text().splitlines() if line.strip()]
        images += training_curves(metrics, run.root)
    examples = [
        {
            "prompt": prompts[i],
            "reply_a": replies[POLICY][i],
            "reply_b": replies[BASELINE][i],
            "score_a": scores[POLICY][i],
            "score_b": scores[BASELINE][i],
        }
        for i in range(min(5, len(prompts)))
    ]
    write_report(run.root, summary, asdict(config), examples, images)
    return summary


def _write_samples(
    out: Path,
    prompts: Sequence[list[ChatMessage]],
    replies: dict[str, list[str]],
    scores: dict[str, list[float]],
    kls: Sequence[float],
) -> None:
    with (out / "samples.jsonl").open("w", encoding="utf-8") as handle:
        for i, prompt in enumerate(prompts):
            row = {
                "prompt": prompt,
                "reply_a": replies[POLICY][i],
                "reply_b": replies[BASELINE][i],
                "score_a": scores[POLICY][i],
                "score_b": scores[BASELINE][i],
                "kl": kls[i],
                "others": {
                    name: {"reply": replies[name][i], "score": scores[name][i]}
                    for name in replies
                    if name not in (POLICY, BASELINE)
                },
            }
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
