"""What the simulated people say to the bot: opening messages of the chitchat conversations,
each with the reply the other person really gave (bench/loop/relevance.py judges whether a
bot's reply answers the message by it).

Round 0 draws from the conversations the stable-hash split keeps for training, round 1 from
the held-out ones; a message text in both (a plain "Hello there!") stays on the training
side, so round 1 asks nothing the policy was trained on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from training.data import chitchat
from training.data.split import held_out

MIN_WORDS = 3
MAX_CHARS = 300


@dataclass(frozen=True)
class Opener:
    text: str  # what the simulated person says
    conversation: str  # its chitchat conversation's id
    answer: str  # what the other person said next there


def opener(conversation: chitchat.Conversation) -> Opener | None:
    """The first of the first two turns with at least MIN_WORDS words (a person's first
    real message), if it is not too long and was answered."""
    for index, text in enumerate(conversation.turns[:2]):
        if len(text.split()) >= MIN_WORDS and len(text) <= MAX_CHARS:
            if index + 1 >= len(conversation.turns):
                return None
            return Opener(text, conversation.id, conversation.turns[index + 1])
    return None


def split_openers(held_out_percent: float, seed: int) -> tuple[list[Opener], list[Opener]]:
    """(training-side, held-out) openers of distinct texts, each list shuffled by `seed`."""
    train: dict[str, Opener] = {}
    kept: dict[str, Opener] = {}
    for conversation in chitchat.load():
        found = opener(conversation)
        if found is None:
            continue
        side = kept if held_out(conversation.id, held_out_percent) else train
        side.setdefault(" ".join(found.text.lower().split()), found)
    rng = random.Random(seed)
    first = [train[key] for key in sorted(train)]
    second = [kept[key] for key in sorted(kept) if key not in train]
    rng.shuffle(first)
    rng.shuffle(second)
    return first, second
