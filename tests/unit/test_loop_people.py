"""bench/loop's simulated people: the rule, exact on examples; the content test tells a
conversation's real answer from stock phrases and other conversations' answers; votes
sparse, noisy and reproducible; panels that share no one; round 1's openers held out."""

from __future__ import annotations

import pytest

from bench.loop.prompts import Opener, split_openers
from bench.loop.raters import Rater, assign, panel
from bench.loop.relevance import Topic, topics, vector

COOKIES = Topic(
    vector("I love chocolate chip cookies\nMe too! I bake them every sunday with my kids."),
    (vector("What's your favourite film?\nProbably Inception, the ending is great."),),
)
BRIEF = Rater("A-1", "brief", 1, 12, noise=0.0, rate=1.0)
DETAILED = Rater("A-2", "detailed", 8, 40, noise=0.0, rate=1.0)
MESSAGE = "I love chocolate chip cookies"


@pytest.mark.parametrize(
    ("rater", "reply", "expected"),
    [
        (BRIEF, "Cookies are the best, chocolate chip especially!", []),
        (BRIEF, "Do you bake them yourself on a sunday?", []),  # about the real answer
        (BRIEF, "   ", ["empty"]),
        (BRIEF, "ok", ["off topic", "unfinished"]),
        (BRIEF, "That sounds great! Tell me more.", ["off topic"]),
        (BRIEF, "I love the ending of that film!", ["off topic"]),  # the other conversation
        (BRIEF, "I love chocolate chip cookies!", ["parrots"]),
        (BRIEF, "Cookies are the best and cookies are the best.", ["repeats"]),
        (BRIEF, "Cookies are the best, I think that the", ["unfinished"]),
        (BRIEF, "Cookies! " + " ".join(["yum"] * 12) + ".", ["repeats", "long"]),
        (DETAILED, "Cookies are the best!", ["short"]),
        (DETAILED, "Chocolate chip cookies are the best, I bake a batch every week.", []),
    ],
)  # fmt: skip
def test_faults(rater: Rater, reply: str, expected: list[str]) -> None:
    assert rater.faults(MESSAGE, reply, COOKIES) == expected
    assert rater.likes(MESSAGE, reply, COOKIES) == (not expected)


def test_the_content_test_knows_a_real_answer_from_stock_phrases_and_other_answers() -> None:
    _, held_out = split_openers(held_out_percent=20.0, seed=0)
    about = topics(held_out, seed=0)
    real = sum(about[o.text].answered_by(o.answer) for o in held_out) / len(held_out)
    shifted = held_out[1:] + held_out[:1]  # each opener with the next one's answer
    other = sum(
        about[o.text].answered_by(s.answer) for o, s in zip(held_out, shifted, strict=True)
    ) / len(held_out)
    stock = ["ok", "That sounds great! Tell me more.", "I'd be happy to help with that."]
    canned = max(sum(about[o.text].answered_by(s) for o in held_out) / len(held_out) for s in stock)
    assert real > 0.85 and other < 0.1 and canned < 0.1, (real, other, canned)


def test_votes_are_sparse_noisy_and_the_same_every_time() -> None:
    rater = Rater("A-1", "brief", 1, 20, noise=0.2, rate=0.25)
    liked = "Cookies are the best, chocolate chip especially!"
    votes = [rater.vote(MESSAGE, liked, COOKIES, seed=0, turn_id=t) for t in range(4000)]
    assert votes == [rater.vote(MESSAGE, liked, COOKIES, seed=0, turn_id=t) for t in range(4000)]
    cast = [v for v in votes if v is not None]
    assert 0.22 < len(cast) / len(votes) < 0.28
    assert 0.16 < cast.count(False) / len(cast) < 0.24
    assert votes != [rater.vote(MESSAGE, liked, COOKIES, seed=1, turn_id=t) for t in range(4000)]


def test_panels_mix_tastes_and_share_no_one() -> None:
    a, b = panel(0, "A", 12), panel(0, "B", 12)
    assert a == panel(0, "A", 12) and a != panel(1, "A", 12)
    assert not {r.name for r in a} & {r.name for r in b}
    assert sorted(r.taste for r in a) == ["brief"] * 6 + ["detailed"] * 6
    assert all(0.05 <= r.noise <= 0.15 and 0.10 <= r.rate <= 0.30 for r in a + b)
    assert all(r.max_words <= 20 for r in a if r.taste == "brief")
    assert all(8 <= r.min_words <= 14 for r in a if r.taste == "detailed")
    drawn = assign(a, 0, turn_id=7, count=5)
    assert drawn == assign(a, 0, turn_id=7, count=5) and len(set(drawn)) == 5


def test_round_one_asks_nothing_round_zero_trained_on() -> None:
    first, second = split_openers(held_out_percent=20.0, seed=0)
    assert len(first) > 480 and len(second) > 128  # the bench's round sizes fit
    normal = {" ".join(o.text.lower().split()) for o in first}
    assert not any(" ".join(o.text.lower().split()) in normal for o in second)
    assert not {o.conversation for o in first} & {o.conversation for o in second}
    assert all(len(o.text.split()) >= 3 and o.answer for o in first + second)
    assert (first, second) == split_openers(held_out_percent=20.0, seed=0)


def test_distractors_come_from_other_conversations() -> None:
    openers = [Opener(f"message {i} about topic{i}", f"c{i}", f"answer topic{i}") for i in range(9)]
    about = topics(openers, seed=0)
    assert about == topics(openers, seed=0)
    for o in openers:
        topic = about[o.text]
        assert len(topic.others) == 4 and topic.own not in topic.others
        assert topic.answered_by(f"I like topic{o.conversation[1:]} too.")
