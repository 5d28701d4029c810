"""Context windowing: the conversation so far, cut to a token budget from the oldest turn."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.text import longest_end
from core.types import ChatMessage

CountTokens = Callable[[ChatMessage], int]

# Chat templates add a few tokens around each message (<|im_start|>role\n ... <|im_end|>\n).
PER_MESSAGE_OVERHEAD = 4


def build_prompt(
    system_prompt: str,
    history: Sequence[tuple[str, str | None]],
    user_text: str,
    budget: int,
    count: CountTokens,
) -> list[ChatMessage]:
    """The messages the model sees: system, then as many recent (user, assistant) exchanges as
    fit in `budget` tokens, then the new user message. A user message with no reply (None:
    the bot only read it, or its reply failed) is a user turn alone.

    Whole exchanges are dropped from the oldest first so the model never sees an answer
    without its question. The system prompt and the new message are always kept; if they
    alone exceed the budget, the new message keeps the longest end of its text that fits
    (as training.prompt_fit cuts training prompts: the chat template and the system prompt
    stay whole). Only a system prompt that leaves no room at all is sent over budget.

    >>> words = lambda m: len(m["content"].split())
    >>> [m["content"] for m in build_prompt("sys", [("a b", "c d"), ("e", "f")], "g", 20, words)]
    ['sys', 'e', 'f', 'g']
    >>> [m["role"] for m in build_prompt("sys", [("a", None), ("b", "c")], "d", 60, words)]
    ['system', 'user', 'user', 'assistant', 'user']
    """
    system: ChatMessage = {"role": "system", "content": system_prompt}
    user: ChatMessage = {"role": "user", "content": user_text}

    def cost(message: ChatMessage) -> int:
        return count(message) + PER_MESSAGE_OVERHEAD

    used = cost(system) + cost(user)
    if used > budget and cost(system) + PER_MESSAGE_OVERHEAD < budget:
        user = _end_that_fits(user, budget - cost(system) - PER_MESSAGE_OVERHEAD, count)
        return [system, user]
    kept: list[ChatMessage] = []
    for question, answer in reversed(history):
        pair: list[ChatMessage] = [{"role": "user", "content": question}]
        if answer is not None:
            pair.append({"role": "assistant", "content": answer})
        pair_cost = sum(cost(m) for m in pair)
        if used + pair_cost > budget:
            break
        used += pair_cost
        kept[:0] = pair
    return [system, *kept, user]


def _end_that_fits(message: ChatMessage, room: int, count: CountTokens) -> ChatMessage:
    """`message` with the longest end of its text that `count` puts at `room` or less
    (whole characters: no multi-byte character is split).

    >>> words = lambda m: len(m["content"].split())
    >>> _end_that_fits({"role": "user", "content": "a b c d"}, 2, words)
    {'role': 'user', 'content': 'c d'}
    """
    end = longest_end(message["content"], lambda end: count({**message, "content": end}) <= room)
    return {**message, "content": end.lstrip()}


def messages_that_fit(budget: int) -> int:
    """How many of a conversation's newest messages to read for a prompt of `budget`
    tokens: each message costs at least one message overhead (an exchange two), so no
    more than that fit; and the new message."""
    return budget // PER_MESSAGE_OVERHEAD + 1
