"""What the simulated people say to the bot: opening messages of the chitchat conversations.

Round 0 draws from the conversations the stable-hash split keeps for training, round 1 from
the held-out ones; a message text in both (a plain "Hello!") stays on the training side,
so round 1 asks nothing the policy was trained on.
"""

from __future__ import annotations

import random

from training.data import chitchat
from training.data.split import held_out

MIN_WORDS = 3
MAX_CHARS = 300


def opener(conversation: chitchat.Conversation) -> str | None:
    """The first of the first two turns with at least MIN_WORDS words (a person's first
    real message), if it is not too long."""
    for text in conversation.turns[:2]:
        if len(text.split()) >= MIN_WORDS and len(text) <= MAX_CHARS:
            return text
    return None


def split_openers(held_out_percent: float, seed: int) -> tuple[list[str], list[str]]:
    """(training-side, held-out) distinct messages, each list shuffled by `seed`."""
    train: dict[str, str] = {}
    kept: dict[str, str] = {}
    for conversation in chitchat.load():
        text = opener(conversation)
        if text is None:
            continue
        side = kept if held_out(conversation.id, held_out_percent) else train
        side.setdefault(" ".join(text.lower().split()), text)
    rng = random.Random(seed)
    first = sorted(train.values())
    second = sorted(text for key, text in kept.items() if key not in train)
    rng.shuffle(first)
    rng.shuffle(second)
    return first, second
