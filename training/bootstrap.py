"""Confidence intervals for eval's figures: a seeded percentile bootstrap over prompts.

Every figure eval reports is a mean over prompts of a per-prompt value (a score, a win of
1, ½ or 0, a length, an on-topic 1 or 0, a distinct-reply weight), so one resampler serves
all: draw the prompts with replacement `resamples` times, take the mean of each draw, and
read the middle `level` of those means (Efron & Tibshirani, "An Introduction to the
Bootstrap", ch. 13). The same seed draws the same prompts for every figure of one eval, so
their intervals are of one resampling. 200 prompts give a win-rate interval of about ±7
points (200 fair coin flips: 0.465 [0.39, 0.53]); a smaller difference is not shown by
one eval.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A figure and its confidence interval; printed as `value [low, high]`."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def mean_interval(
    values: Sequence[float], resamples: int = RESAMPLES, seed: int = 0, level: float = LEVEL
) -> Estimate:
    """The mean of `values` with its bootstrap interval.

    >>> mean_interval([1.0, 1.0, 1.0])
    Estimate(value=1.0, low=1.0, high=1.0)
    >>> e = mean_interval([0.0, 1.0] * 50, seed=3)
    >>> e.value, 0.38 < e.low < 0.45, 0.55 < e.high < 0.62
    (0.5, True, True)
    """
    if not values:
        raise ValueError("no values to estimate from")
    data = np.asarray(values, dtype=np.float64)
    draws = np.random.default_rng(seed).integers(0, len(data), size=(resamples, len(data)))
    means = data[draws].mean(axis=1)  # (resamples,)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(float(data.mean()), float(low), float(high))


def wins(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """Per prompt: 1 where a's reply scores above b's, ½ for a tie, else 0; their mean is
    a's win rate.

    >>> wins([1.0, 2.0, 0.5], [0.0, 2.0, 1.0])
    [1.0, 0.5, 0.0]
    """
    assert len(a) == len(b)
    return [1.0 if x > y else 0.5 if x == y else 0.0 for x, y in zip(a, b, strict=True)]


def distinct_weights(replies: Sequence[str]) -> list[float]:
    """Per reply: 1 / how many replies are the same text (whitespace-insensitive). Their
    sum is the number of distinct replies, so their mean is the distinct-reply share, a
    mean over prompts like every other figure (and resampled the same way).

    >>> distinct_weights(["ok", "ok ", "hi", "ok"])
    [0.3333333333333333, 0.3333333333333333, 1.0, 0.3333333333333333]
    >>> round(sum(distinct_weights(["ok", "ok ", "hi", "ok"])), 9)
    2.0
    """
    keys = [" ".join(reply.split()) for reply in replies]
    counts = Counter(keys)
    return [1.0 / counts[key] for key in keys]
