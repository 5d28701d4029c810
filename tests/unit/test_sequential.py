"""The canary's sequential test (core/sequential.py): its ratio is the mixture it claims to
be, its interval is where that ratio crosses 1/α, it decides what the votes say, and looked
at after every vote it is wrong no more often than α when the arms are equal."""

from __future__ import annotations

import math
import random

import pytest

from bench.canary import one_canary, wrong
from core.sequential import Arm, Rule, Verdict, confidence_bound, decide, mixture_ratio


def normal(x: float, mean: float, variance: float) -> float:
    return math.exp(-((x - mean) ** 2) / (2 * variance)) / math.sqrt(2 * math.pi * variance)


@pytest.mark.parametrize(
    ("difference", "variance", "tau"), [(0.0, 0.01, 0.1), (0.07, 0.002, 0.1), (-0.2, 0.004, 0.05)]
)
def test_the_ratio_is_the_likelihood_mixed_over_differences(
    difference: float, variance: float, tau: float
) -> None:
    step = tau / 2000
    mixed = sum(
        normal(difference, theta, variance) * normal(theta, 0.0, tau * tau) * step
        for theta in (i * step for i in range(-20000, 20001))
    )
    expected = mixed / normal(difference, 0.0, variance)
    assert mixture_ratio(difference, variance, tau) == pytest.approx(expected, rel=1e-4)


def test_the_interval_ends_where_the_ratio_reaches_one_over_alpha() -> None:
    difference, variance, tau, alpha = 0.08, 0.001, 0.1, 0.05
    half = confidence_bound(difference, variance, tau, alpha)
    assert mixture_ratio(half, variance, tau) == pytest.approx(1 / alpha)
    assert mixture_ratio(half * 0.99, variance, tau) < 1 / alpha


def test_it_decides_what_the_votes_say() -> None:
    rule = Rule(min_votes=100, max_votes=400)
    assert decide(Arm(0, 0), Arm(10, 20), rule).verdict is Verdict.COLLECTING
    assert decide(Arm(90, 99), Arm(100, 400), rule).verdict is Verdict.COLLECTING
    better = decide(Arm(150, 200), Arm(400, 800), rule)
    assert better.verdict is Verdict.BETTER and better.bound[0] > 0 and better.p_value <= 0.05
    worse = decide(Arm(60, 200), Arm(400, 800), rule)
    assert worse.verdict is Verdict.WORSE and worse.bound[1] < 0
    running = decide(Arm(105, 200), Arm(400, 800), rule)
    assert running.verdict is Verdict.RUNNING and running.bound[0] < 0 < running.bound[1]
    assert decide(Arm(205, 400), Arm(800, 1600), rule).verdict is Verdict.INCONCLUSIVE


def test_all_alike_votes_decide_nothing_too_soon() -> None:
    assert decide(Arm(100, 100), Arm(100, 100)).verdict is Verdict.RUNNING


def test_looked_at_after_every_vote_it_is_rarely_wrong_when_the_arms_are_equal() -> None:
    rule = Rule(min_votes=50, max_votes=600)
    rng = random.Random(7)
    ended = [one_canary(rng, 0.5, 0.0, 0.5, rule) for _ in range(300)]
    wrong_share = sum(wrong(e.verdict, 0.0) for e in ended) / len(ended)
    assert wrong_share <= rule.alpha
    # A fixed-sample z-test looked at as often is wrong far more often: the same votes,
    # stopped at the first |z| >= 1.96, are what this test exists to avoid.
    rng = random.Random(7)
    naive = sum(_z_test_stops(rng, rule) for _ in range(300)) / 300
    assert naive > 3 * rule.alpha


def _z_test_stops(rng: random.Random, rule: Rule) -> bool:
    up, votes = [0, 0], [0, 0]
    while votes[0] < rule.max_votes:
        arm = 0 if rng.random() < 0.5 else 1
        votes[arm] += 1
        up[arm] += rng.random() < 0.5
        if min(votes) < rule.min_votes:
            continue
        pooled = sum(up) / sum(votes)
        se = math.sqrt(max(pooled * (1 - pooled), 1e-9) * (1 / votes[0] + 1 / votes[1]))
        if abs(up[0] / votes[0] - up[1] / votes[1]) / se >= 1.96:
            return True
    return False


def test_a_bad_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        Rule(alpha=1.5)
    with pytest.raises(ValueError, match="min_votes"):
        Rule(min_votes=10, max_votes=5)
