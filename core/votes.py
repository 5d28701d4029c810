"""Vote rules: what the votes that stand on a reply say about it."""

from __future__ import annotations

from collections.abc import Iterable

from core.types import Vote


def tally(values: Iterable[int]) -> tuple[int, int]:
    """(up, down) counts over the current votes of one reply; retractions count for neither.

    >>> tally([1, -1, 1, 0])
    (2, 1)
    """
    up = down = 0
    for value in values:
        if value > 0:
            up += 1
        elif value < 0:
            down += 1
    return up, down


def label(up: int, down: int) -> bool | None:
    """The unpaired-preference label of a reply: liked, disliked, or None for a tie.

    >>> label(2, 1), label(0, 3), label(1, 1)
    (True, False, None)
    """
    if up == down:
        return None
    return up > down


def pressed(standing: Vote, button: Vote) -> Vote:
    """The vote a rating button's press makes, given the rater's standing vote: the same
    button again takes the vote back; the other one switches it.

    >>> pressed(Vote.RETRACTED, Vote.UP), pressed(Vote.UP, Vote.UP), pressed(Vote.UP, Vote.DOWN)
    (<Vote.UP: 1>, <Vote.RETRACTED: 0>, <Vote.DOWN: -1>)
    """
    return Vote.RETRACTED if standing == button else button


def retracts_nothing(standing: Vote, value: Vote) -> bool:
    """Whether a vote action takes back a vote that is not there (an /unrate of a reply
    never rated, or rated and taken back already): it changes nothing.

    >>> retracts_nothing(Vote.RETRACTED, Vote.RETRACTED), retracts_nothing(Vote.UP, Vote.RETRACTED)
    (True, False)
    >>> retracts_nothing(Vote.RETRACTED, Vote.UP)
    False
    """
    return value == Vote.RETRACTED and standing == Vote.RETRACTED
