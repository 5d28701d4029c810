"""bench/loop's simulated people: the hidden rule, exact on examples; votes reproducible;
noise at the rate asked; panels that share no one; round 1's openers held out."""

from __future__ import annotations

import pytest

from bench.loop.prompts import split_openers
from bench.loop.raters import Rater, assign, faults, on_topic, panel


@pytest.mark.parametrize(
    ("message", "reply", "expected"),
    [
        ("how are you today?", "Great, thanks! And you?", []),
        ("how are you today?", "   ", ["empty"]),
        ("how are you today?", "...", ["empty"]),
        ("Hello!\nAre you here?", "Hello! Are you here?", ["parrots"]),
        ("Hello there, friend", "hello there", ["parrots"]),
        ("this is it", "hi", []),  # "hi" inside "this" is no parrot
        ("tell me", "I am lost. I am lost in the woods.", ["repeats"]),
        ("tell me", " ".join(f"w{i}" for i in range(21)), ["long"]),
        ("tell me", " ".join(f"w{i}" for i in range(20)), []),
        ("tell me", "I am lost, I am lost " + " ".join(f"w{i}" for i in range(20)),
         ["repeats", "long"]),
    ],
)  # fmt: skip
def test_faults(message: str, reply: str, expected: list[str]) -> None:
    assert faults(message, reply, max_words=20) == expected


def test_a_rater_votes_the_same_every_time_and_with_the_noise_asked() -> None:
    rater = Rater("A-1", max_words=20, noise=0.2)
    liked = "Sounds good to me!"
    votes = [rater.vote("any plans?", liked, seed=0, turn_id=t) for t in range(2000)]
    assert votes == [rater.vote("any plans?", liked, seed=0, turn_id=t) for t in range(2000)]
    assert 0.17 < votes.count(False) / len(votes) < 0.23
    other_seed = [rater.vote("any plans?", liked, seed=1, turn_id=t) for t in range(2000)]
    assert other_seed != votes
    quiet = Rater("A-2", max_words=20, noise=0.0)
    assert all(quiet.vote("any plans?", liked, 0, t) for t in range(100))
    assert not any(quiet.vote("any plans?", "", 0, t) for t in range(100))


def test_panels() -> None:
    a, b = panel(0, "A", 12), panel(0, "B", 12)
    assert a == panel(0, "A", 12) and a != panel(1, "A", 12)
    assert not {r.name for r in a} & {r.name for r in b}
    assert all(15 <= r.max_words <= 30 and 0.05 <= r.noise <= 0.15 for r in a + b)
    drawn = assign(a, 0, turn_id=7, count=3)
    assert drawn == assign(a, 0, turn_id=7, count=3) and len(set(drawn)) == 3


def test_round_one_asks_nothing_round_zero_trained_on() -> None:
    first, second = split_openers(held_out_percent=20.0, seed=0)
    assert len(first) > 1000 and len(second) > 256  # the bench's round sizes fit
    normal = {" ".join(text.lower().split()) for text in first}
    assert not any(" ".join(text.lower().split()) in normal for text in second)
    assert all(len(text.split()) >= 3 for text in first + second)
    assert (first, second) == split_openers(held_out_percent=20.0, seed=0)


def test_on_topic_looks_for_a_shared_content_word() -> None:
    assert on_topic("I love chocolate chip cookies", "Cookies are the best!")
    assert not on_topic("I love chocolate chip cookies", "I'd be happy to help with that.")
    assert not on_topic("how are you?", "How are you?")  # only words that carry no subject
