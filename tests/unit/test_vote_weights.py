"""Vote margins as weights: rows exported by core/export/rows.py, read back from JSON, get
weights from their up/down counts and model version; KTO repeats rows to carry them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from core.export.rows import CastVote, RatedTurn, kto_row
from training.data.weights import copies, vote_weights
from training.kto_config import KtoConfig
from training.kto_trainer import weighted_rows
from training.reward.pointwise import class_weights


def exported(turn_id: int, values: list[int], model: str = "v2") -> dict[str, Any]:
    turn = RatedTurn(
        turn_id=turn_id,
        conversation_id=turn_id,
        message_id=turn_id,
        platform="slack",
        prompt=[{"role": "user", "content": f"question {turn_id}"}],
        completion=f"reply {turn_id}",
        model_version=model,
        settings={},
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        votes=tuple(CastVote(f"U{i}", v, None) for i, v in enumerate(values)),
    )
    row = kto_row(turn, b"k")
    assert row is not None
    loaded: dict[str, Any] = json.loads(json.dumps(row))
    return loaded


def test_a_surer_majority_weighs_more() -> None:
    rows = [exported(1, [1, 1, 1]), exported(2, [1, 1, -1]), exported(3, [-1]), exported(4, [1])]
    weights = vote_weights(rows)
    assert [row["label"] for row in rows] == [True, True, False, True]  # the majority's
    assert weights[0] > weights[2] == weights[3] > weights[1]  # 3-0 > 1-0 = 0-1 > 2-1
    assert sum(weights) == pytest.approx(len(rows))  # relative: mean 1
    assert vote_weights(rows, margins=False) == [1.0] * 4


def test_votes_on_older_versions_weigh_less_only_when_asked() -> None:
    rows = [exported(1, [1], "v2"), exported(2, [1], "v1"), exported(3, [-1], "v1")]
    assert vote_weights(rows) == pytest.approx([1.0, 1.0, 1.0])
    older = vote_weights(rows, older_weight=0.25, current="v2")
    assert older[0] == pytest.approx(4 * older[1]) and older[1] == older[2]


def test_rows_of_older_exports_count_as_one_current_vote() -> None:
    bare = [{"prompt": [], "completion": [], "label": True}, exported(2, [1], "v1")]
    assert vote_weights(bare, older_weight=0.5, current="v2") == pytest.approx([4 / 3, 2 / 3])


def test_kto_repeats_rows_by_weight_and_hands_trl_its_fields_only() -> None:
    rows = [exported(1, [1, 1, 1]), exported(2, [-1]), exported(3, [1], "v1")]
    config = KtoConfig(older_version_weight=0.5)
    made = weighted_rows(rows, config, parent="v2")
    # weights 0.6, 1/3, 1/6 (older): copies 4 (3.6 rounded), 2, 1
    assert copies(config.weights(rows, "v2")) == [4, 2, 1]
    assert [row["completion"][0]["content"] for row in made] == ["reply 1"] * 4 + [
        "reply 2"
    ] * 2 + ["reply 3"]
    assert all(set(row) == {"prompt", "completion", "label"} for row in made)
    single = [exported(i, [1 if i % 2 else -1]) for i in range(4)]
    assert len(weighted_rows(single, KtoConfig(), "v2")) == 4  # one vote each: no repeats


def test_the_reward_models_vote_loss_takes_the_row_weights() -> None:
    rows = [exported(1, [1, 1, 1]), exported(2, [1, 1, -1]), exported(3, [-1])]
    labels = [row["label"] for row in rows]
    weighted = class_weights(labels, balance=True, rows=vote_weights(rows))
    assert weighted[0] > weighted[1]  # both 👍: the 3-0 one pulls harder
    assert float(weighted[:2].sum()) == pytest.approx(float(weighted[2]))  # classes: half each
