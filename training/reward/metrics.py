"""Held-out measures of a reward model, all through training/scoring.py's reward_scores
(the score PPO and eval use): pairwise accuracy on pairs, AUC on unpaired votes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.types import ChatMessage
from training.data.exports import TrlRow
from training.reward.rows import pair_replies, vote_reply
from training.scoring import reward_scores


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve: the chance that a random 👍 reply scores above a random 👎
    one, ties counting half (Mann-Whitney U from average ranks).

    >>> auc([0.9, 0.8, 0.3, 0.1], [True, True, False, False])
    1.0
    >>> auc([0.1, 0.9, 0.3, 0.5], [True, True, False, False])
    0.5
    >>> auc([0.2, 0.2, 0.2], [True, False, False])
    0.5
    """
    assert len(scores) == len(labels)
    positives = sum(1 for label in labels if label)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs both 👍 and 👎 votes")
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start  # [start, end] is a run of equal scores: each gets the run's mean rank
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    positive_ranks = sum(rank for rank, label in zip(ranks, labels, strict=True) if label)
    return (positive_ranks - positives * (positives + 1) / 2) / (positives * negatives)


def scores(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[ChatMessage]],
    replies: Sequence[str],
    max_length: int,
) -> list[float]:
    """reward_scores, asked shortest text first so that each batch pads little, and
    answered in the order given."""
    size = [
        sum(len(m["content"]) for m in p) + len(r) for p, r in zip(prompts, replies, strict=True)
    ]
    order = sorted(range(len(replies)), key=size.__getitem__)
    found = reward_scores(
        model,
        tokenizer,
        [prompts[i] for i in order],
        [replies[i] for i in order],
        max_length=max_length,
        progress="held-out scores",
    )
    result = [0.0] * len(order)
    for position, i in enumerate(order):
        result[i] = found[position]
    return result


def pair_scores(
    model: Any, tokenizer: Any, pairs: Sequence[TrlRow], max_length: int
) -> tuple[list[float], list[float]]:
    """(chosen scores, rejected scores)."""
    prompts, chosen, rejected = zip(*(pair_replies(row) for row in pairs), strict=True)
    return (
        scores(model, tokenizer, prompts, chosen, max_length),
        scores(model, tokenizer, prompts, rejected, max_length),
    )


def pairwise_accuracy(
    model: Any, tokenizer: Any, pairs: Sequence[TrlRow], max_length: int = 512
) -> float:
    """The share of pairs whose chosen reply scores strictly above the rejected one."""
    chosen, rejected = pair_scores(model, tokenizer, pairs, max_length)
    return sum(c > r for c, r in zip(chosen, rejected, strict=True)) / len(pairs)


def evaluate(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[TrlRow],
    votes: Sequence[TrlRow],
    max_length: int = 512,
) -> dict[str, float]:
    """{"pairs": n, "votes": n} plus pairwise_accuracy (if pairs), vote_accuracy (a positive
    score read as 👍) and vote_auc (if the votes hold both kinds)."""
    result: dict[str, float] = {"pairs": len(pairs), "votes": len(votes)}
    if pairs:
        result["pairwise_accuracy"] = pairwise_accuracy(model, tokenizer, pairs, max_length)
    if votes:
        prompts, replies, labels = zip(*(vote_reply(row) for row in votes), strict=True)
        found = scores(model, tokenizer, prompts, replies, max_length)
        hits = sum((score > 0) == label for score, label in zip(found, labels, strict=True))
        result["vote_accuracy"] = hits / len(votes)
        if 0 < sum(labels) < len(labels):
            result["vote_auc"] = auc(found, labels)
    return result
