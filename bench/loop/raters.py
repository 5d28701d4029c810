"""Simulated raters: the people of bench/loop, with a taste the policy never sees.

Every rater likes a reply only when it

- answers the message: it is about this conversation more than about others
  (bench/loop/relevance.py; stock phrases and replies about nothing in particular fail),
- does not parrot the message (no run of PARROT_RUN of its words, or all of a shorter one),
- does not repeat itself (no three words that occur twice in a row),
- is finished: it ends as a sentence does (. ! ? … or an emoji), not cut off mid-way,
- fits the rater's taste in length: "brief" raters want at most 10-20 words, "detailed"
  ones at least 8-14 and at most DETAILED_MAX.

And like people, they vote sparsely (each on 10-30 % of the replies they see) and now and
then the other way (a misclick, a mood: 5-15 %). Only votes leave this module; the reasons
stay here, as they stay in a person's head. The held-out panel's noiseless judgement of
every reply (`Rater.likes`) is the benchmark's measure, beside an independent reward model.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from dataclasses import dataclass

from bench.loop.relevance import Topic

BRIEF_MAX = (10, 20)
DETAILED_MIN = (8, 14)
DETAILED_MAX = 40
NOISE = (0.05, 0.15)
RATE = (0.10, 0.30)
PARROT_RUN = 5
FAULTS = ("empty", "off topic", "parrots", "repeats", "unfinished", "short", "long")
_WORD = re.compile(r"[\w']+")
_ENDS = ".!?…)"


def words(text: str) -> list[str]:
    """Lower-cased words, punctuation dropped.

    >>> words("Hi there!  I'm fine, thanks.")
    ['hi', 'there', "i'm", 'fine', 'thanks']
    """
    return _WORD.findall(text.lower())


def repeats(reply_words: list[str], n: int = 3) -> bool:
    """Whether some n words in a row occur twice.

    >>> repeats("i am lost i am lost".split())
    True
    >>> repeats("i am lost and you are not".split())
    False
    """
    grams = [tuple(reply_words[i : i + n]) for i in range(len(reply_words) - n + 1)]
    return len(grams) != len(set(grams))


def parrots(message: str, reply: str) -> bool:
    """Whether the reply copies PARROT_RUN words of the message in a row (or the whole of a
    shorter message, or is itself a piece of it).

    >>> parrots("Hello!\\nAre you here?", "Hello! Are you here?")
    True
    >>> parrots("I love chocolate chip cookies so much", "I love chocolate chip cookies too")
    True
    >>> parrots("I love chocolate chip cookies", "Chocolate chip ones are the best!")
    False
    >>> parrots("this is it", "hi")
    False
    """
    asked, said = words(message), words(reply)
    if not said:
        return False
    run = min(PARROT_RUN, len(asked))
    if len(said) <= len(asked) and _within(said, asked):
        return True
    grams = {tuple(asked[i : i + run]) for i in range(len(asked) - run + 1)}
    return run > 0 and any(tuple(said[i : i + run]) in grams for i in range(len(said) - run + 1))


def finished(reply: str) -> bool:
    """Whether the reply ends as a sentence does.

    >>> finished("Sure, see you then!"), finished("I think that the best way to"), finished("ok 👍")
    (True, False, True)
    """
    text = reply.rstrip().rstrip("\"'*")
    if not text:
        return False
    last = text[-1]
    return last in _ENDS or unicodedata.category(last) == "So"


def _within(part: list[str], whole: list[str]) -> bool:
    """Whether `part` occurs in `whole` as consecutive words.

    >>> _within(["are", "you"], ["how", "are", "you"]), _within(["hi"], ["this"])
    (True, False)
    """
    return any(whole[i : i + len(part)] == part for i in range(len(whole) - len(part) + 1))


@dataclass(frozen=True)
class Rater:
    name: str
    taste: str  # "brief" or "detailed"
    min_words: int
    max_words: int
    noise: float  # chance of voting against their own judgement
    rate: float  # chance of voting at all on a reply they see

    def faults(self, message: str, reply: str, topic: Topic) -> list[str]:
        """What this rater holds against `reply` to `message` (empty: it is liked)."""
        said = words(reply)
        if not said:
            return ["empty"]
        found = []
        if not topic.answered_by(reply):
            found.append("off topic")
        if parrots(message, reply):
            found.append("parrots")
        if repeats(said):
            found.append("repeats")
        if not finished(reply):
            found.append("unfinished")
        if len(said) < self.min_words:
            found.append("short")
        if len(said) > self.max_words:
            found.append("long")
        return found

    def likes(self, message: str, reply: str, topic: Topic) -> bool:
        """The rater's judgement without noise."""
        return not self.faults(message, reply, topic)

    def vote(self, message: str, reply: str, topic: Topic, seed: int, turn_id: int) -> bool | None:
        """👍 (True), 👎 (False), or None when this rater lets the reply pass unrated; the
        same every time for this rater, reply and seed."""
        rng = _rng(seed, self.name, str(turn_id))
        if rng.random() >= self.rate:
            return None
        flip = rng.random() < self.noise
        return self.likes(message, reply, topic) != flip


def panel(seed: int, name: str, size: int) -> list[Rater]:
    """`size` raters named `name`-1..., half brief and half detailed (alternating), each
    with their own limits, noise and voting rate; panels with different names share no
    one."""
    rng = _rng(seed, "panel", name)
    raters = []
    for i in range(size):
        noise = round(rng.uniform(*NOISE), 3)
        rate = round(rng.uniform(*RATE), 3)
        if i % 2 == 0:
            low, high, taste = 1, rng.randint(*BRIEF_MAX), "brief"
        else:
            low, high, taste = rng.randint(*DETAILED_MIN), DETAILED_MAX, "detailed"
        raters.append(Rater(f"{name}-{i + 1}", taste, low, high, noise, rate))
    return raters


def assign(raters: list[Rater], seed: int, turn_id: int, count: int) -> list[Rater]:
    """The `count` raters of the panel who see this reply (its chat's members; a stable
    draw)."""
    return _rng(seed, "assign", str(turn_id)).sample(raters, count)


def _rng(seed: int, *keys: str) -> random.Random:
    digest = hashlib.sha256("\x1f".join((str(seed), *keys)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
