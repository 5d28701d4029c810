"""`replyloop eval`: a policy against a baseline on held-out prompts, judged by a reward
model. Both answer the same prompts with the serving settings; the report gives the
reward-model win rate of the policy, each model's mean reward and reply length, and the KL
of the policy to the baseline along the policy's replies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from core.types import ChatMessage
from training.evaluate_config import EvalConfig
from training.models import check_same_tokenizer, load_policy, load_scorer, load_tokenizer
from training.ppo.rollout import Rollout, sample, stop_token_ids
from training.prompt_fit import fit_prompts
from training.report import comparison_plot, training_curves, write_report
from training.runs import RunFolder
from training.scoring import reward_scores


def win_rate(a: Sequence[float], b: Sequence[float]) -> float:
    """Share of prompts where a's reply scores above b's; a tie counts half.

    >>> win_rate([1.0, 2.0, 0.5], [0.0, 2.0, 1.0])
    0.5
    """
    assert len(a) == len(b) and a
    return sum(1.0 if x > y else 0.5 if x == y else 0.0 for x, y in zip(a, b, strict=True)) / len(a)


@torch.no_grad()
def reply_kl(policy: Any, baseline: Any, replies: Rollout) -> torch.Tensor:
    """KL(policy || baseline) of each reply, in nats: at every token of the reply, the exact
    KL between the two next-token distributions (whole vocabulary, temperature 1), summed
    over the reply. -> (B,)"""
    given = {
        "input_ids": replies.input_ids,
        "attention_mask": replies.attention_mask,
        "position_ids": replies.position_ids,
    }
    start = replies.query_width - 1  # the distribution that predicts token t sits at t - 1
    logits_p = policy(**given).logits[:, start:-1].float()  # (B, R, V)
    logits_b = baseline(**given).logits[:, start:-1].float()  # (B, R, V)
    logp, logb = torch.log_softmax(logits_p, -1), torch.log_softmax(logits_b, -1)
    per_token = (logp.exp() * (logp - logb)).sum(-1)  # (B, R)
    return (per_token * replies.response_mask.to(per_token.dtype)).sum(-1)


def _replies(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[ChatMessage]],
    config: EvalConfig,
    generator: torch.Generator,
) -> Rollout:
    made, _, _ = sample(
        model,
        tokenizer,
        prompts,
        max_prompt_tokens=config.max_prompt_tokens,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        stop_ids=stop_token_ids(tokenizer, model),
        generator=generator,
    )
    return made


def evaluate(
    policy_dir: Path,
    baseline_dir: Path,
    reward_dir: Path,
    prompts: Sequence[list[ChatMessage]],
    run: RunFolder,
    config: EvalConfig,
    names: dict[str, str],
) -> dict[str, Any]:
    """Generate, score, compare; write samples.jsonl, report.md and its plots into `run`."""
    if not prompts:
        raise ValueError("no prompts to evaluate on")
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
    policy = load_policy(policy_dir, device).eval()
    baseline = load_policy(baseline_dir, device).eval()
    scorer, scorer_tokenizer = load_scorer(reward_dir, device).eval(), load_tokenizer(reward_dir)
    replies_a: list[str] = []
    replies_b: list[str] = []
    kls: list[float] = []
    lengths_a: list[float] = []
    lengths_b: list[float] = []
    generator = torch.Generator(device=device).manual_seed(config.seed)
    for start in tqdm(
        range(0, len(prompts), config.batch_size), desc="eval: replies and KL", unit="batch"
    ):
        batch = list(prompts[start : start + config.batch_size])
        made_a = _replies(policy, tokenizer, batch, config, generator)
        made_b = _replies(baseline, tokenizer, batch, config, generator)
        kls.extend(reply_kl(policy, baseline, made_a).tolist())
        replies_a.extend(made_a.texts)
        replies_b.extend(made_b.texts)
        lengths_a.extend(made_a.response_mask.sum(-1).float().tolist())
        lengths_b.extend(made_b.response_mask.sum(-1).float().tolist())
    scores_a = reward_scores(scorer, scorer_tokenizer, prompts, replies_a, progress="eval: policy")
    scores_b = reward_scores(
        scorer, scorer_tokenizer, prompts, replies_b, progress="eval: baseline"
    )
    summary: dict[str, Any] = {
        **names,
        "prompts": len(prompts),
        "win_rate": win_rate(scores_a, scores_b),
        "reward_policy": _mean(scores_a),
        "reward_baseline": _mean(scores_b),
        "kl_per_reply": _mean(kls),
        "length_policy": _mean(lengths_a),
        "length_baseline": _mean(lengths_b),
    }
    with (run.root / "samples.jsonl").open("w", encoding="utf-8") as handle:
        for i, prompt in enumerate(prompts):
            row = {
                "prompt": prompt,
                "reply_a": replies_a[i],
                "reply_b": replies_b[i],
                "score_a": scores_a[i],
                "score_b": scores_b[i],
                "kl": kls[i],
            }
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    images = [comparison_plot(scores_a, scores_b, kls, run.root)]
    trained = policy_dir.parent / "metrics.jsonl"  # the policy's own run folder, if it is one
    if trained.exists():
        rows = [json.loads(line) for line in trained.read_text().splitlines() if line.strip()]
        images += training_curves(rows, run.root)
    examples = [
        {"prompt": p, "reply_a": a, "reply_b": b, "score_a": sa, "score_b": sb}
        for p, a, b, sa, sb in list(
            zip(prompts, replies_a, replies_b, scores_a, scores_b, strict=True)
        )[:5]
    ]
    write_report(run.root, "replyloop eval", summary, asdict(config), examples, images)
    return summary


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")
