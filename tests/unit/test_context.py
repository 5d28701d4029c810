"""core.context.build_prompt: what the model sees of a conversation, within a token budget."""

from __future__ import annotations

import doctest

import pytest

import core.context
from core.context import PER_MESSAGE_OVERHEAD, build_prompt, messages_that_fit
from core.types import ChatMessage

HISTORY = [("one two", "three four five"), ("six", "seven eight"), ("nine ten", "eleven")]


def words(message: ChatMessage) -> int:
    return len(message["content"].split())


def cost(*texts: str) -> int:
    """What build_prompt charges for these messages: their words plus the template overhead."""
    return sum(len(t.split()) + PER_MESSAGE_OVERHEAD for t in texts)


def sys_(text: str) -> ChatMessage:
    return {"role": "system", "content": text}


def user(text: str) -> ChatMessage:
    return {"role": "user", "content": text}


def bot(text: str) -> ChatMessage:
    return {"role": "assistant", "content": text}


FULL = [
    sys_("be kind"),
    user("one two"), bot("three four five"),
    user("six"), bot("seven eight"),
    user("nine ten"), bot("eleven"),
    user("new question"),
]  # fmt: skip
FULL_COST = cost("be kind", "new question", *(t for pair in HISTORY for t in pair))


def test_empty_history_is_system_then_user() -> None:
    assert build_prompt("be kind", [], "hi there", 10_000, words) == [
        sys_("be kind"),
        user("hi there"),
    ]


def test_everything_kept_when_the_budget_is_large() -> None:
    assert build_prompt("be kind", HISTORY, "new question", 10_000, words) == FULL


def test_history_that_exactly_fits_is_kept_whole() -> None:
    assert build_prompt("be kind", HISTORY, "new question", FULL_COST, words) == FULL


def test_one_token_over_drops_the_oldest_exchange_whole() -> None:
    assert build_prompt("be kind", HISTORY, "new question", FULL_COST - 1, words) == [
        sys_("be kind"),
        user("six"), bot("seven eight"),
        user("nine ten"), bot("eleven"),
        user("new question"),
    ]  # fmt: skip


def test_only_the_newest_exchange_when_two_do_not_fit() -> None:
    budget = cost("be kind", "new question", "nine ten", "eleven")
    assert build_prompt("be kind", HISTORY, "new question", budget, words) == [
        sys_("be kind"),
        user("nine ten"),
        bot("eleven"),
        user("new question"),
    ]
    assert build_prompt("be kind", HISTORY, "new question", budget - 1, words) == [
        sys_("be kind"),
        user("new question"),
    ]


def test_never_an_answer_without_its_question() -> None:
    # Room for the newest question alone, not for its answer: neither is kept.
    budget = cost("be kind", "new question", "nine ten")
    prompt = build_prompt("be kind", HISTORY, "new question", budget, words)
    assert prompt == [sys_("be kind"), user("new question")]


def test_an_older_small_exchange_is_not_kept_behind_a_dropped_newer_one() -> None:
    # Dropping happens from the oldest: a gap in the middle of the history would show the
    # model a conversation that never happened.
    history = [("a", "b"), ("c " * 50, "d " * 50)]
    budget = cost("s", "q", "a", "b") + 10
    assert build_prompt("s", history, "q", budget, words) == [sys_("s"), user("q")]


@pytest.mark.parametrize("budget", [0, 1, cost("be kind")])
def test_a_system_prompt_that_leaves_no_room_is_sent_whole_over_budget(budget: int) -> None:
    assert build_prompt("be kind", HISTORY, "new question", budget, words) == [
        sys_("be kind"),
        user("new question"),
    ]


def test_a_newest_message_over_budget_keeps_its_end_and_the_system_prompt_whole() -> None:
    budget = cost("be kind", "new question") - 1
    assert build_prompt("be kind", HISTORY, "new question", budget, words) == [
        sys_("be kind"),
        user("question"),
    ]
    long = "x " * 500 + "the question at the end?"
    prompt = build_prompt("be kind", HISTORY, long, cost("be kind", "a b c d e"), words)
    assert prompt == [sys_("be kind"), user("the question at the end?")]


def test_counter_sees_each_message_with_its_role() -> None:
    seen: list[ChatMessage] = []

    def counting(message: ChatMessage) -> int:
        seen.append(dict(message))  # type: ignore[arg-type]
        return 1

    build_prompt("s", [("q1", "a1")], "q2", 10_000, counting)
    assert sorted((m["role"], m["content"]) for m in seen) == [
        ("assistant", "a1"),
        ("system", "s"),
        ("user", "q1"),
        ("user", "q2"),
    ]


def test_history_is_not_modified() -> None:
    history = list(HISTORY)
    build_prompt("be kind", history, "new question", 20, words)
    assert history == HISTORY


def test_docstring_example_holds() -> None:
    assert doctest.testmod(core.context).failed == 0


def test_messages_that_fit_bounds_the_messages_a_budget_can_hold() -> None:
    budget = 100
    # every message costs at least one overhead
    assert messages_that_fit(budget) == budget // PER_MESSAGE_OVERHEAD + 1
    free = lambda message: 0  # noqa: E731 - texts that cost nothing: only overheads count
    for history in ([("q", "a")] * 60, [("q", None)] * 60):
        prompt = build_prompt("", history, "new", budget, free)
        assert len(prompt) - 2 < messages_that_fit(budget)
