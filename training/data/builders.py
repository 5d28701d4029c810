"""Rows for each trainer, built from conversations (pure: data in, TRL rows out).

Every row starts with the system prompt the workers serve with, so the model is trained on
the same kind of prompt it answers in chats. A row's prompt holds the turns before the
reply, at most `context_turns` of them and always starting with a user turn.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from core.types import DEFAULT_SYSTEM_PROMPT, ChatMessage, Role
from training.data.chitchat import Conversation
from training.data.exports import TrlRow


@dataclass(frozen=True)
class RowShape:
    """How conversations become rows: the system prompt, how many turns a prompt holds, and
    how long a reply may be."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    context_turns: int = 3  # turns before the reply, at most (an even count loses one)
    max_chars: int = 600  # turns longer than this are not used as replies


def prompt_before(conversation: Conversation, index: int, shape: RowShape) -> list[ChatMessage]:
    """The prompt for the reply `conversation.turns[index]`: the system prompt, then the
    turns before it with the reply's speaker as the assistant.

    >>> c = Conversation("c", ("hi", "hello!", "how are you?", "fine"))
    >>> [m["role"] for m in prompt_before(c, 3, RowShape(context_turns=2))]
    ['system', 'user']
    >>> [m["content"] for m in prompt_before(c, 3, RowShape(system_prompt="", context_turns=3))]
    ['hi', 'hello!', 'how are you?']
    """
    assert index >= 1, "a reply needs a turn before it"
    first = max(0, index - shape.context_turns)
    if (index - first) % 2 == 0:
        first += 1  # the reply's own speaker would open the prompt: start one turn later
    messages: list[ChatMessage] = []
    if shape.system_prompt:
        messages.append({"role": "system", "content": shape.system_prompt})
    for position in range(first, index):
        role: Role = "assistant" if (index - position) % 2 == 0 else "user"
        messages.append({"role": role, "content": conversation.turns[position]})
    return messages


def reply_slots(
    conversations: Sequence[Conversation], shape: RowShape, limit: int | None, seed: int
) -> list[tuple[int, int]]:
    """(conversation, turn) positions of usable replies; `limit` of them drawn at random
    (seeded) across all conversations, else all, in order."""
    slots = [
        (c, t)
        for c, conversation in enumerate(conversations)
        for t in range(1, len(conversation.turns))
        if len(conversation.turns[t]) <= shape.max_chars
    ]
    if limit is not None and limit < len(slots):
        slots = sorted(random.Random(seed).sample(slots, limit))
    return slots


def assistant(text: str) -> list[ChatMessage]:
    return [{"role": "assistant", "content": text}]


def sft_rows(
    conversations: Sequence[Conversation],
    shape: RowShape = RowShape(),
    limit: int | None = None,
    seed: int = 0,
) -> list[TrlRow]:
    """Conversational prompt-completion rows: one per reply, loss on the reply alone.

    >>> c = Conversation("c", ("hi", "hello!"))
    >>> sft_rows([c], RowShape(system_prompt="")) == [
    ...     {"prompt": [{"role": "user", "content": "hi"}], "completion": assistant("hello!")}
    ... ]
    True
    """
    return [
        {
            "prompt": prompt_before(conversations[c], t, shape),
            "completion": assistant(conversations[c].turns[t]),
        }
        for c, t in reply_slots(conversations, shape, limit, seed)
    ]


def selection_pairs(
    conversations: Sequence[Conversation],
    shape: RowShape = RowShape(),
    limit: int | None = None,
    seed: int = 0,
) -> list[TrlRow]:
    """Response-selection preference rows: the true next reply is chosen over a reply drawn
    (seeded) from another conversation of the same set."""
    if len(conversations) < 2:
        raise ValueError("response-selection pairs need at least two conversations")
    rng = random.Random(seed + 1)
    rows = []
    for c, t in reply_slots(conversations, shape, limit, seed):
        chosen = conversations[c].turns[t]
        while True:
            other = rng.randrange(len(conversations))
            if other == c:
                continue
            rejected = conversations[other].turns[rng.randrange(1, len(conversations[other].turns))]
            if rejected != chosen and len(rejected) <= shape.max_chars:
                break
        rows.append(
            {
                "prompt": prompt_before(conversations[c], t, shape),
                "chosen": assistant(chosen),
                "rejected": assistant(rejected),
            }
        )
    return rows


def liked_rows(votes: Iterable[TrlRow]) -> list[TrlRow]:
    """SFT rows from the replies people rated 👍 (a `kto` export's rows labelled true)."""
    return [{"prompt": v["prompt"], "completion": v["completion"]} for v in votes if v["label"]]


def unique_prompts(rows: Iterable[TrlRow]) -> Iterator[list[ChatMessage]]:
    """Each distinct prompt of `rows` once, in order (siblings share a prompt)."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    for row in rows:
        key = tuple((m["role"], m["content"]) for m in row["prompt"])
        if key not in seen:
            seen.add(key)
            yield row["prompt"]
