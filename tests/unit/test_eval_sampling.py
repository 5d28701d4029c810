"""What makes `replyloop eval`'s figures worth believing, without models: prompts spread
over held-out conversations, bootstrap intervals that cover the truth as often as they
claim, and the on-topic proxy."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from core.types import ChatMessage
from training.bootstrap import Estimate, distinct_weights, mean_interval, wins
from training.data.builders import RowShape
from training.data.eval_prompts import held_out_prompts, stratified
from training.on_topic import on_topic

CONVERSATIONS, TURNS = 100, 13  # in file order, the first 200 rows are 16 conversations


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A prompts export written conversation by conversation, as an export of a store is."""
    path = tmp_path / "raw.jsonl"
    rows = [
        {
            "prompt": [{"role": "user", "content": f"conversation {c}, message {t}"}],
            "conversation_id": f"c{c:03d}",
        }
        for c in range(CONVERSATIONS)
        for t in range(TURNS)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_200_prompts_span_many_more_conversations_than_the_first_200_rows(
    export: Path,
) -> None:
    rows = held_out_prompts([str(export)], 100.0, RowShape())
    assert len(rows) == CONVERSATIONS * TURNS
    assert len({row.conversation for row in rows[:200]}) == 16  # what --limit used to take
    picked = stratified(rows, 200, per_conversation=4, seed=0)
    assert len(picked) == 200
    per = Counter(row.conversation for row in picked)
    assert len(per) == CONVERSATIONS and max(per.values()) == 2
    assert len({json.dumps(row.prompt) for row in picked}) == 200
    assert stratified(rows, 200, 4, seed=0) == picked  # seeded
    assert stratified(rows, 200, 4, seed=1) != picked


def test_at_most_k_prompts_a_conversation(export: Path) -> None:
    rows = held_out_prompts([str(export)], 100.0, RowShape())
    picked = stratified(rows, 1000, per_conversation=3, seed=0)
    assert len(picked) == 3 * CONVERSATIONS
    assert set(Counter(row.conversation for row in picked).values()) == {3}


def test_held_out_prompts_follow_the_training_split(export: Path) -> None:
    rows = held_out_prompts([str(export)], 30.0, RowShape())
    kept = {row.conversation for row in rows}
    assert 15 < len(kept) < 45  # about 30 of 100, the same hash as training's split
    assert len(rows) == TURNS * len(kept)  # whole conversations, never part of one


def test_bootstrap_intervals_cover_the_truth_about_95_percent_of_the_time() -> None:
    rng = random.Random(7)
    covered = 0
    for trial in range(200):
        flips = [float(rng.random() < 0.3) for _ in range(200)]
        found = mean_interval(flips, seed=trial)
        assert found.low <= found.value <= found.high
        covered += found.low <= 0.3 <= found.high
    assert 180 <= covered <= 199, covered


def test_bootstrap_is_seeded_and_narrows_with_more_prompts() -> None:
    rng = random.Random(1)
    few = [rng.gauss(0.0, 1.0) for _ in range(50)]
    many = few * 16
    assert mean_interval(few, seed=3) == mean_interval(few, seed=3)
    assert mean_interval(few, seed=3) != mean_interval(few, seed=4)
    narrow, wide = mean_interval(many), mean_interval(few)
    assert narrow.high - narrow.low < (wide.high - wide.low) / 3
    assert str(Estimate(0.5, 0.25, 0.75)) == "0.5 [0.25, 0.75]"


def test_win_rate_and_distinct_share_are_means_over_prompts() -> None:
    assert mean_interval(wins([2.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0])).value == 0.625
    replies = ["ok", "ok", "ok", "I like tea", "ok"]
    assert mean_interval(distinct_weights(replies)).value == pytest.approx(2 / 5)


def test_on_topic_needs_a_shared_content_word() -> None:
    ask: list[ChatMessage] = [
        {"role": "user", "content": "I just got back from Japan"},
        {"role": "assistant", "content": "welcome back"},
        {"role": "user", "content": "the sushi there was amazing"},
    ]
    assert on_topic(ask, "What kind of sushi did you eat?")
    assert not on_topic(ask, "ok")
    assert not on_topic(ask, "That is so cool, I am glad to hear that!")
    assert not on_topic(ask, "Did you visit Japan?")  # the last user message only
