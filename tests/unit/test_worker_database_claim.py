"""Two test runs on one machine take different worker Redis databases instead of waiting
on each other (the second used to wait 300 s on the first's lock, then error)."""

from __future__ import annotations

import pytest

from tests.integration.workers import claim_database

# Numbers no real run uses: only their lock files are touched, never Redis.
NUMBERS = (90, 91)


def test_a_second_claim_takes_the_next_free_number() -> None:
    with claim_database(NUMBERS) as first, claim_database(NUMBERS) as second:
        assert (first, second) == (90, 91)
    with claim_database(NUMBERS) as again:
        assert again == 90  # freed when the first run ended


def test_when_every_number_is_taken_a_claim_waits_then_says_so() -> None:
    with (
        claim_database(NUMBERS),
        claim_database(NUMBERS),
        pytest.raises(TimeoutError, match="every worker Redis database"),
        claim_database(NUMBERS, timeout=0.2),
    ):
        pass
