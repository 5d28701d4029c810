"""The raters' own judgement of a set of replies: the held-out panel, every rater on every
reply, without noise; a reply's approval is the share of the panel that likes it, a row's
is the mean over prompts with its bootstrap interval (training.bootstrap), beside the
share of replies that answer the message and the faults found."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.loop.raters import FAULTS, Rater
from bench.loop.relevance import Topic
from training.bootstrap import Estimate, mean_interval


def panel_approval(
    raters: Sequence[Rater], message: str, reply: str, topic: Topic
) -> tuple[float, list[str]]:
    """The share of `raters` who like the reply, and every fault any of them found."""
    found = [r.faults(message, reply, topic) for r in raters]
    liked = sum(not f for f in found) / len(found)
    return liked, sorted({fault for f in found for fault in f})


def judged_row(
    raters: Sequence[Rater],
    messages: Sequence[str],
    replies: Sequence[str],
    topics: dict[str, Topic],
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """One row's approval by the panel's rule (with interval), share answering the
    message, and the share of replies with each fault (found by any rater)."""
    approvals, answered, faults = [], [], []
    for message, reply in zip(messages, replies, strict=True):
        topic = topics[message]
        liked, found = panel_approval(raters, message, reply, topic)
        approvals.append(liked)
        answered.append(float(topic.answered_by(reply)))
        faults.append(found)
    approval: Estimate = mean_interval(approvals, resamples, seed)
    return {
        "approval": approval,
        "answers": mean_interval(answered, resamples, seed),
        "faults": {name: round(sum(name in f for f in faults) / len(faults), 4) for name in FAULTS},
    }
