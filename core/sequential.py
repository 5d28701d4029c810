"""Is a canary model liked more or less than the promoted one? A sequential test on each
arm's 👍/👎 that stays valid however often it is looked at, so a canary can be checked
after every vote and acted on the moment it decides.

The test is the mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
Pekelis and Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests"
(Operations Research, 2022), the test behind Optimizely's stats engine, in its normal
approximation for two proportions:

- the difference in approval, canary minus incumbent, is estimated by
  d = a_c/n_c - a_i/n_i, with variance s² = p(1-p)(1/n_c + 1/n_i), p the pooled approval
  (the variance under "no difference", the hypothesis tested);
- against "no difference", the likelihood ratio mixed over differences drawn from
  N(0, τ²) is Λ = sqrt(s²/(s²+τ²)) · exp(τ²d² / (2s²(s²+τ²)));
- Λ is a martingale under no difference, so the chance that it ever reaches 1/α, at any
  look, is at most α (Ville's inequality). When it does, the canary is better (d > 0) or
  worse (d < 0); the chance of deciding either way when the two are equal is at most α.
  That holds as far as the normal approximation does, and for independent votes: the votes
  on one conversation's replies are alike more often than chance, which the test does not
  model (bench/canary.py measures the error with independent voters).

τ is the size of difference the test is tuned to find fastest (0.1: ten points of
approval). Each arm needs `min_votes` before anything is decided (the normal approximation
needs them; so does a person reading the figures), and a canary that has `max_votes` on its
arm without a decision is stopped as inconclusive: the promoted model stays.

The stated stopping rule, in full: after every vote, with both arms at `min_votes` or
more, stop as soon as Λ >= 1/α (promote when d > 0, roll back when d < 0); stop at
`max_votes` on the canary's arm otherwise. bench/canary.py measures how many votes it takes
and how often it is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    COLLECTING = "collecting"  # an arm has fewer than min_votes
    RUNNING = "running"  # no decision yet
    BETTER = "better"  # promote the canary
    WORSE = "worse"  # stop it: everyone back on the promoted model
    INCONCLUSIVE = "inconclusive"  # max_votes and no decision: stopped, the promoted model stays


@dataclass(frozen=True)
class Rule:
    alpha: float = 0.05  # the most the test may be wrong when the arms are equal
    tau: float = 0.1  # the difference in approval it is tuned to find fastest
    min_votes: int = 100  # on each arm, before any decision
    max_votes: int = 5000  # on the canary's arm: past it, stopped as inconclusive

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, not {self.alpha}")
        if self.tau <= 0:
            raise ValueError(f"tau must be positive, not {self.tau}")
        if not 1 <= self.min_votes <= self.max_votes:
            raise ValueError("min_votes must be at least 1 and at most max_votes")


@dataclass(frozen=True)
class Arm:
    up: int
    votes: int

    @property
    def approval(self) -> float:
        return self.up / self.votes if self.votes else 0.0

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """The Wilson interval of this arm's approval (95 % by default).

        >>> [round(x, 3) for x in Arm(8, 10).interval()]
        [0.49, 0.943]
        """
        if not self.votes:
            return (0.0, 1.0)
        n, p = self.votes, self.approval
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    difference: float  # canary approval minus the incumbent's
    ratio: float  # the mixture likelihood ratio Λ (1.0 until both arms have votes)
    p_value: float  # 1/Λ, capped at 1: this look's always-valid p-value
    bound: tuple[float, float]  # an always-valid 1-α interval for the difference

    @property
    def final(self) -> bool:
        return self.verdict in (Verdict.BETTER, Verdict.WORSE, Verdict.INCONCLUSIVE)


def mixture_ratio(difference: float, variance: float, tau: float) -> float:
    """Λ for an estimated difference with the given variance, mixed over N(0, tau²).

    >>> round(mixture_ratio(0.0, 0.01, 0.1), 6)  # no difference seen: sqrt(s²/(s²+τ²))
    0.707107
    """
    mixed = variance + tau * tau
    exponent = tau * tau * difference * difference / (2 * variance * mixed)
    return math.sqrt(variance / mixed) * math.exp(min(exponent, 700.0))


def confidence_bound(difference: float, variance: float, tau: float, alpha: float) -> float:
    """Half the width of the always-valid interval for the difference: the differences
    whose own mSPRT would not reject yet."""
    mixed = variance + tau * tau
    return math.sqrt(
        variance * mixed / (tau * tau) * (2 * math.log(1 / alpha) + math.log(mixed / variance))
    )


def decide(canary: Arm, incumbent: Arm, rule: Rule = Rule()) -> Decision:
    """The test's state after these votes (see the module's doc)."""
    difference = canary.approval - incumbent.approval
    if not canary.votes or not incumbent.votes:
        return Decision(Verdict.COLLECTING, difference, 1.0, 1.0, (-1.0, 1.0))
    pooled = (canary.up + incumbent.up) / (canary.votes + incumbent.votes)
    # Every vote alike (all 👍 or all 👎) says nothing of a difference yet.
    spread = max(pooled * (1 - pooled), 1.0 / (canary.votes + incumbent.votes))
    variance = spread * (1 / canary.votes + 1 / incumbent.votes)
    ratio = mixture_ratio(difference, variance, rule.tau)
    half = confidence_bound(difference, variance, rule.tau, rule.alpha)
    bound = (max(-1.0, difference - half), min(1.0, difference + half))
    p_value = min(1.0, 1.0 / ratio)
    if min(canary.votes, incumbent.votes) < rule.min_votes:
        verdict = Verdict.COLLECTING
    elif ratio >= 1 / rule.alpha:
        verdict = Verdict.BETTER if difference > 0 else Verdict.WORSE
    elif canary.votes >= rule.max_votes:
        verdict = Verdict.INCONCLUSIVE
    else:
        verdict = Verdict.RUNNING
    return Decision(verdict, difference, ratio, p_value, bound)
