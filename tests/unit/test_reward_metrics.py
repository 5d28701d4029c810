"""training.reward.metrics.auc: exact values on hand-made examples."""

from __future__ import annotations

import pytest

from training.reward.metrics import auc


def test_perfect_ranking_is_one() -> None:
    assert auc([3.0, 2.0, -1.0, -2.0], [True, True, False, False]) == 1.0


def test_reversed_ranking_is_zero() -> None:
    assert auc([-3.0, -2.0, 1.0, 2.0], [True, True, False, False]) == 0.0


def test_all_tied_is_one_half() -> None:
    assert auc([0.5, 0.5, 0.5, 0.5], [True, False, True, False]) == 0.5


def test_ties_count_half() -> None:
    # 👍 scores {2, 1}, 👎 scores {1, 0}: (2>1) + (2>0) + (1=1: ½) + (1>0) over 4 pairs
    assert auc([2.0, 1.0, 1.0, 0.0], [True, True, False, False]) == 3.5 / 4


def test_counts_every_positive_negative_pair() -> None:
    # 👍 at 0.4 beats one of the three 👎 (0.1), 👍 at 0.95 beats all three: 4 of 6
    assert auc([0.4, 0.95, 0.1, 0.5, 0.9], [True, True, False, False, False]) == pytest.approx(
        4 / 6
    )


def test_order_of_rows_does_not_matter() -> None:
    scores, labels = [0.1, 0.7, 0.3, 0.7, 0.2], [False, True, True, False, False]
    reordered = [4, 2, 0, 3, 1]
    assert auc(scores, labels) == auc(
        [scores[i] for i in reordered], [labels[i] for i in reordered]
    )


def test_one_class_only_is_an_error() -> None:
    with pytest.raises(ValueError, match="both"):
        auc([0.1, 0.2], [True, True])
