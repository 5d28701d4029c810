"""The rows of eval's table, each scored by the same judge on the same prompts: the policy,
the baseline, and the trivial baselines a skeptic asks for first. bench/loop showed why
(issue 21): a bot that always says "ok" and the base model cut to 12 words both beat the
trained policy under a rule that only liked short replies. A policy that does not beat
them under the judge has shown nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.types import ChatMessage
from training.bootstrap import Estimate, distinct_weights, mean_interval, wins
from training.on_topic import on_topic

CONSTANT_REPLY = "ok"
TRUNCATE_WORDS = 12
POLICY, BASELINE = "policy", "baseline"
CONSTANT = f'constant "{CONSTANT_REPLY}"'
TRUNCATED = f"baseline cut to {TRUNCATE_WORDS} words"
FIGURES = ("judge_score", "win_rate", "length", "distinct_share", "on_topic_share")


def truncated(reply: str, words: int = TRUNCATE_WORDS) -> str:
    """
    >>> truncated("one two three", 2)
    'one two'
    """
    return " ".join(reply.split()[:words])


def row_figures(
    prompts: Sequence[Sequence[ChatMessage]],
    replies: Sequence[str],
    scores: Sequence[float],
    baseline_scores: Sequence[float],
    lengths: Sequence[float],
    resamples: int,
    seed: int,
) -> dict[str, Estimate]:
    """A row's figures with their intervals, all means over the same prompts: the judge's
    mean score, the win rate against the baseline's reply to the same prompt, reply length
    in tokens, distinct replies / prompts, and the on-topic share (training.on_topic)."""
    topical = [float(on_topic(p, r)) for p, r in zip(prompts, replies, strict=True)]
    per_prompt = {
        "judge_score": list(scores),
        "win_rate": wins(scores, baseline_scores),
        "length": list(lengths),
        "distinct_share": distinct_weights(replies),
        "on_topic_share": topical,
    }
    return {name: mean_interval(v, resamples, seed) for name, v in per_prompt.items()}


def jsonable(value: Any) -> Any:
    """The summary with every Estimate as {"value", "low", "high"} (report.json)."""
    if isinstance(value, Estimate):
        return value.as_dict()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
