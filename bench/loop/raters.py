"""Simulated raters: the people of bench/loop, with a taste the policy never sees.

Every rater applies the same hidden rule with a length limit of their own, and now and then
votes the other way (a misclick, a mood). The rule, chosen so a 135M model can learn it
from a few hundred 👍/👎: people like a reply that

- says something (not empty),
- does not parrot their own message back,
- does not repeat itself (no three words that occur twice in a row),
- is short: no more words than the rater's limit (15 to 30).

Only votes leave this module; the reasons stay here, as they stay in a person's head.
`on_topic` is not part of the rule: it is the bench's check on what the rule leaves out
(whether a reply is about what was said), reported beside approval.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

MIN_WORDS, MAX_WORDS = 15, 30
MIN_NOISE, MAX_NOISE = 0.05, 0.15
_WORD = re.compile(r"[\w']+")


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


def faults(message: str, reply: str, max_words: int) -> list[str]:
    """What the hidden rule holds against `reply` to `message` (empty: it is liked).

    >>> faults("Hello!", "Hello!", 20)
    ['parrots']
    >>> faults("how are you?", "Great, and you?", 20)
    []
    >>> faults("hi", "", 20)
    ['empty']
    """
    said = words(reply)
    if not said:
        return ["empty"]
    found = []
    asked = words(message)
    if _within(said, asked):
        found.append("parrots")
    if repeats(said):
        found.append("repeats")
    if len(said) > max_words:
        found.append("long")
    return found


def _within(part: list[str], whole: list[str]) -> bool:
    """Whether `part` occurs in `whole` as consecutive words.

    >>> _within(["are", "you"], ["how", "are", "you"]), _within(["hi"], ["this"])
    (True, False)
    """
    return any(whole[i : i + len(part)] == part for i in range(len(whole) - len(part) + 1))


# Words that say nothing about a message's subject.
_STOPWORDS = (
    "i you the a an and or but to of in on at for with is are was were be been it this that "
    "my your me we our they he she them his her its not no yes do does did have has had so "
    "just really like what how why who when where there here can could would should will "
    "i'm you're it's that's im dont don't about from as if by up out all some any more most "
    "very too also well oh hi hello hey"
)
STOPWORDS = frozenset(_STOPWORDS.split())


def on_topic(message: str, reply: str) -> bool:
    """Whether the reply shares a content word with the message (a rough check that it is
    about what was said; not something the raters look at).

    >>> on_topic("I love chocolate chip cookies", "Cookies are the best!")
    True
    >>> on_topic("I love chocolate chip cookies", "I'd be happy to help with that.")
    False
    """
    return bool((set(words(message)) - STOPWORDS) & (set(words(reply)) - STOPWORDS))


@dataclass(frozen=True)
class Rater:
    name: str
    max_words: int  # more words than this is rambling, to this rater
    noise: float  # chance of voting against their own judgement

    def likes(self, message: str, reply: str) -> bool:
        """The rater's judgement without noise."""
        return not faults(message, reply, self.max_words)

    def vote(self, message: str, reply: str, seed: int, turn_id: int) -> bool:
        """👍 (True) or 👎, the same every time for this rater, reply and seed."""
        flip = _rng(seed, self.name, str(turn_id)).random() < self.noise
        return self.likes(message, reply) != flip


def panel(seed: int, name: str, size: int) -> list[Rater]:
    """`size` raters named `name`-1..., each with their own limit and noise; panels with
    different names share no one."""
    rng = _rng(seed, "panel", name)
    return [
        Rater(
            f"{name}-{i + 1}",
            rng.randint(MIN_WORDS, MAX_WORDS),
            round(rng.uniform(MIN_NOISE, MAX_NOISE), 3),
        )
        for i in range(size)
    ]


def assign(raters: list[Rater], seed: int, turn_id: int, count: int) -> list[Rater]:
    """The `count` raters of the panel who rate this reply (a stable draw)."""
    return _rng(seed, "assign", str(turn_id)).sample(raters, count)


def _rng(seed: int, *keys: str) -> random.Random:
    digest = hashlib.sha256("\x1f".join((str(seed), *keys)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
