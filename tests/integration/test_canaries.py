"""core.store.canaries on real SQLite and real PostgreSQL: one canary at a time, sticky
arms, each arm's votes counted from its start, and the ending the test decides (promoted
when better, the promoted model kept when worse, stopped when its incumbent was replaced)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import CanaryError, UnknownModel
from core.sequential import Rule, Verdict
from core.store import Store, canaries, registry
from core.types import ChatMessage, Vote

RULE = Rule(min_votes=20, max_votes=400)


@pytest.fixture
def models(store: Store, tmp_path: Path) -> Store:
    for version, kind in (("base", "builtin"), ("ppo-1", "ppo"), ("ppo-2", "ppo"), ("rm-1", "rm")):
        registry.register(store, version=version, kind=kind, path=tmp_path / version)
    registry.promote(store, "base")
    return store


def rated_replies(store: Store, version: str, up: int, down: int, chat: str) -> None:
    """`up + down` replies of `version` in chat `chat`, each with one vote."""
    for index in range(up + down):
        conversation_id, message_id = store.add_chat_message("slack", chat, "U1", f"hi {index}")
        prompt: list[ChatMessage] = [{"role": "user", "content": f"hi {index}"}]
        turn = store.add_turn(
            conversation_id, message_id, f"{chat}-{version}-{index}", prompt, "ok", version, {}, {}
        )
        store.vote(turn.id, "U2", Vote.UP if index < up else Vote.DOWN, "test")


def test_one_canary_at_a_time_and_stopped_by_hand(models: Store) -> None:
    started = canaries.start(models, "ppo-1", 20, "base", RULE)
    assert canaries.running(models) == started
    with pytest.raises(CanaryError, match="runs already"):
        canaries.start(models, "ppo-2", 20, "base", RULE)
    stopped = canaries.stop(models)
    assert stopped.verdict == canaries.STOPPED and stopped.ended_at is not None
    assert canaries.running(models) is None
    with pytest.raises(CanaryError, match="no canary runs"):
        canaries.stop(models)
    again = canaries.start(models, "ppo-2", 50, "base", RULE)
    assert again.id != started.id
    assert [c.version for c in canaries.history(models)] == ["ppo-1", "ppo-2"]
    assert registry.promoted(models).version == "base"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("version", "share", "error", "match"),
    [
        ("nope", 20, UnknownModel, "no model"),
        ("rm-1", 20, CanaryError, "reward model"),
        ("base", 20, CanaryError, "serves already"),
        ("ppo-1", 0, CanaryError, "1 to 99"),
        ("ppo-1", 100, CanaryError, "1 to 99"),
    ],
)
def test_a_canary_that_cannot_run_is_refused(
    models: Store, version: str, share: int, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        canaries.start(models, version, share, "base", RULE)
    assert canaries.running(models) is None


def test_a_conversation_keeps_its_arm_and_the_share_holds(models: Store) -> None:
    begun = [models.add_chat_message("slack", f"old-{i}", "U1", "hi")[0] for i in range(50)]
    canary = canaries.start(models, "ppo-1", 20, "base", RULE)
    assert canary.from_conversation == max(begun) + 1
    assert {canary.model_for(c) for c in begun} == {"base"}  # begun before: left as they were
    new = range(canary.from_conversation, canary.from_conversation + 5000)
    arms = [canary.model_for(conversation) for conversation in new]
    assert arms == [canary.model_for(conversation) for conversation in new]
    assert 0.18 < arms.count("ppo-1") / len(arms) < 0.22
    assert canaries.running(models) == canary


def test_each_arm_counts_its_models_votes_since_the_start(models: Store) -> None:
    rated_replies(models, "ppo-1", 5, 5, "before")  # before the canary: not counted
    canary = canaries.start(models, "ppo-1", 20, "base", RULE)
    rated_replies(models, "ppo-1", 7, 3, "C1")
    rated_replies(models, "base", 4, 8, "C2")
    rated_replies(models, "ppo-2", 9, 0, "C3")  # neither arm
    ours, theirs = canaries.arms(models, canary)
    assert (ours.up, ours.votes, theirs.up, theirs.votes) == (7, 10, 4, 12)


def test_a_better_canary_is_promoted(models: Store) -> None:
    canaries.start(models, "ppo-1", 20, "base", RULE)
    rated_replies(models, "ppo-1", 18, 2, "C1")
    rated_replies(models, "base", 30, 50, "C2")
    ended, decision = canaries.check(models, "base")  # type: ignore[misc]
    assert decision.verdict is Verdict.BETTER and ended.verdict == "better"
    assert ended.figures is not None and ended.figures["canary"] == {"up": 18, "votes": 20}
    assert registry.promoted(models).version == "ppo-1"  # type: ignore[union-attr]
    assert canaries.running(models) is None


def test_a_worse_canary_is_stopped_and_the_promoted_model_stays(models: Store) -> None:
    canaries.start(models, "ppo-1", 20, "base", RULE)
    rated_replies(models, "ppo-1", 2, 18, "C1")
    rated_replies(models, "base", 50, 30, "C2")
    ended, decision = canaries.check(models, "base")  # type: ignore[misc]
    assert decision.verdict is Verdict.WORSE and ended.verdict == "worse"
    assert registry.promoted(models).version == "base"  # type: ignore[union-attr]


def test_no_decision_keeps_it_running(models: Store) -> None:
    canary = canaries.start(models, "ppo-1", 20, "base", RULE)
    rated_replies(models, "ppo-1", 11, 9, "C1")
    rated_replies(models, "base", 40, 40, "C2")
    now, decision = canaries.check(models, "base")  # type: ignore[misc]
    assert decision.verdict is Verdict.RUNNING and now == canary


def test_a_canary_whose_incumbent_was_replaced_is_stopped(models: Store) -> None:
    canaries.start(models, "ppo-1", 20, "base", RULE)
    registry.promote(models, "ppo-2")
    ended, _ = canaries.check(models, "ppo-2")  # type: ignore[misc]
    assert ended.verdict == canaries.STOPPED
    assert registry.promoted(models).version == "ppo-2"  # type: ignore[union-attr]
    assert canaries.check(models, "ppo-2") is None
