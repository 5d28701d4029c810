"""Whether a reply answers the message: the content half of the simulated raters' taste.

A reply answers a chitchat opener when its words are closer to that conversation (the
opener and the reply the other person really gave) than to each of DISTRACTORS other
conversations of the same side of the split. Closeness is the cosine of TF-IDF vectors of
content words (training.on_topic's words, an IDF from every turn of the chitchat data). So:

- a stock phrase ("ok", "That's great!", "I'd be happy to help with that.") shares no word
  with the conversation, or only words as common elsewhere: it does not answer;
- a reply about the message's subject, or about what the person really answered, does;
- parroting the message would pass this test; the raters fail it separately (raters.py).

A ranking against distractors, not a threshold: the bar is "about this conversation more
than about others", whatever the length of the reply.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bench.loop.prompts import Opener
from training.data import chitchat
from training.on_topic import content_words

DISTRACTORS = 4

Vector = dict[str, float]


@lru_cache(maxsize=1)
def idf() -> dict[str, float]:
    """log(turns / turns with the word) over every turn of the chitchat data."""
    counts: Counter[str] = Counter()
    turns = 0
    for conversation in chitchat.load():
        for turn in conversation.turns:
            counts.update(content_words(turn))
            turns += 1
    return {word: math.log(turns / seen) for word, seen in counts.items()}


def vector(text: str) -> Vector:
    weights = idf()
    unseen = math.log(len(weights) or 1)  # a word the data never uses: as rare as can be
    return {word: weights.get(word, unseen) for word in content_words(text)}


def cosine(a: Vector, b: Vector) -> float:
    """
    >>> cosine({"x": 1.0}, {"x": 2.0}), cosine({"x": 1.0}, {"y": 1.0}), cosine({}, {"x": 1.0})
    (1.0, 0.0, 0.0)
    """
    dot = sum(weight * b[word] for word, weight in a.items() if word in b)
    if dot == 0.0:
        return 0.0
    return dot / math.sqrt(sum(w * w for w in a.values()) * sum(w * w for w in b.values()))


@dataclass(frozen=True)
class Topic:
    """One opener's conversation, and the others a reply must be closer to it than."""

    own: Vector
    others: tuple[Vector, ...]

    def answered_by(self, reply: str) -> bool:
        said = vector(reply)
        mine = cosine(said, self.own)
        return mine > 0.0 and all(mine > cosine(said, other) for other in self.others)


def topics(openers: Sequence[Opener], seed: int) -> dict[str, Topic]:
    """The Topic of each opener (by its text), its distractors drawn from the other
    openers of `openers` (one side of the split), stably for `seed`."""
    contexts = {o.conversation: vector(f"{o.text}\n{o.answer}") for o in openers}
    pool = sorted(contexts)
    found = {}
    for o in openers:
        rng = _rng(seed, o.conversation)
        drawn: list[str] = []
        while len(drawn) < min(DISTRACTORS, len(pool) - 1):
            other = rng.choice(pool)
            if other != o.conversation and other not in drawn:
                drawn.append(other)
        found[o.text] = Topic(contexts[o.conversation], tuple(contexts[d] for d in drawn))
    return found


def answered_share(pairs: Iterable[tuple[Topic, str]]) -> float:
    said = [topic.answered_by(reply) for topic, reply in pairs]
    return sum(said) / len(said) if said else 0.0


def _rng(seed: int, key: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x1fdistractors\x1f{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
