"""The fault harness's scenarios that take about a minute each (bench/faults), as tests:
under each fault no message is lost or answered twice and no vote is lost.

Each runs the real adapters against the fake platform servers, real gpu and io workers, a
Redis of its own (killed and restarted) and, for pg-restart, a PostgreSQL cluster of its
own, with every setting at its default. A failure prints the scenario's row and notes; the
processes' logs are left in the test's temporary folder.

Telegram has no idempotency key, so its replies are sent at most once (bots.telegram.once):
a kill that lands in the moment between a send's claim and its request's last byte loses
that reply. A CI run on a loaded machine caught one such kill; the harness counts these
apart (`unsent_claims`: the store has the reply taken as sent, Telegram never got it
whole), and one kill may lose at most one. Every other loss fails the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.faults.harness import Options
from bench.faults.scenarios import SCENARIOS
from bench.faults.table import render
from bench.faults.traffic import WAIT_S

MESSAGES = 12
# Only `python -m bench.faults` runs these: minutes each, not one.
NOT_HERE = {
    "flood",  # 300 messages, and waiting for them
    "io-kills-telegram",  # a thousand deliveries under repeated kills
}
MINUTE_LONG = [name for name in SCENARIOS if name not in NOT_HERE]


@pytest.mark.parametrize("scenario", MINUTE_LONG)
def test_nothing_is_lost_or_duplicated(scenario: str, tiny_model: Path, tmp_path: Path) -> None:
    outcomes = SCENARIOS[scenario](Options(tmp_path, tiny_model, MESSAGES))
    table = render(outcomes, WAIT_S) + f"\nlogs: {tmp_path}"
    for outcome in outcomes:
        assert outcome.sent >= MESSAGES and outcome.votes_cast > 0, table
        # Telegram's sends are at most once (bots.telegram.once): a kill that lands between
        # a send's claim and its request's last byte loses that reply, and only that. One
        # kill, at most one such send.
        lost = outcome.lost - outcome.unsent_claims
        assert (lost, outcome.duplicated, outcome.lost_votes) == (0, 0, 0), table
        assert outcome.unsent_claims <= 1, table
