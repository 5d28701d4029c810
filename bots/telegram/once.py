"""Sending a Telegram message at most once, though the Bot API has no idempotency key and
cannot read a chat's history to look for what was sent.

Each message a task may send again (a reply's part, a notice's part) has a key in Redis
(bots.dedupe, shared by every io worker). When all of sendMessage's request but its last
byte is written (bots.telegram.api.Mark) the key is claimed `sending`, and then the last
byte goes; once Telegram answers with the message, the key holds the message id. A task
that runs again (redelivered after the io worker was killed, or retried) finds one of
three things:

- nothing: no request ever left (or Telegram answered that it did nothing, and the key
  was let go): it sends;
- a message id: it was sent; it is not sent again;
- `sending` alone: a request left and its answer never came back, so Telegram most
  likely posted it (a worker killed while it waits for the answer). It is taken as
  sent, its id unknown (UNKNOWN_ID), and never sent blindly a second time.

So a message is duplicated never, and lost only when the worker dies between the claim
reaching Redis and the request's last byte being written (Redis's answer and a one-byte
write: under a millisecond on a quiet machine, longer when the process waits for a CPU or
for Python's GIL), or when Telegram itself dropped a request it had whole. Two runs of a
task at once (a redelivery while the first still runs) cannot both send a part: the claim
is SET NX, and the loser retries later (Transient).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bots.dedupe import Dedupe
from bots.refusals import Transient
from bots.telegram.api import BotApi, BotApiError

log = logging.getLogger(__name__)

SENDING = "sending"
UNKNOWN_ID = 0  # Telegram numbers messages from 1: "posted, its id never came back"


@dataclass(frozen=True)
class Claim:
    """A message's key, claimed `sending` as its request leaves (bots.telegram.api.Mark)."""

    marks: Dedupe
    key: str

    def sending(self) -> None:
        if not self.marks.claim(self.key, SENDING)[1]:
            raise Transient(f"{self.key} is being sent by another run of its task")

    def not_sent(self) -> None:
        self.marks.drop(self.key)


def recorded(marks: Dedupe, key: str) -> int | None:
    """What an earlier run left for `key`: its message id, UNKNOWN_ID when its answer
    never came, None when it was never sent."""
    held = marks.held(key)
    if held is None:
        return None
    if held == SENDING:
        log.warning("%s: sent before, its answer lost (worker died?): not sent again", key)
        return UNKNOWN_ID
    return int(held)


def send_once(api: BotApi, marks: Dedupe, key: str, params: dict[str, Any]) -> int:
    """sendMessage `params` unless an earlier run did (see the module's doc); the message
    id, UNKNOWN_ID when an earlier run's answer was lost."""
    earlier = recorded(marks, key)
    if earlier is not None:
        return earlier
    try:
        sent = api.call("sendMessage", params, Claim(marks, key))
    except BotApiError as exc:
        if exc.unsure:
            log.warning("%s: no answer to a whole request (%s): not sent again", key, exc)
        raise
    message_id = int(sent["message_id"])
    marks.put(key, str(message_id))
    return message_id


def made(marks: Dedupe, key: str, message_id: int) -> None:
    """Record a message shown by other means (an edit) as `key`'s."""
    marks.put(key, str(message_id))
