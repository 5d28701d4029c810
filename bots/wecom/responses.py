"""What a WeCom callback answers: `Response`, a status line and a body, and `JsonBody`, a
body that is JSON (the smart bot's sealed replies) rather than text; and `stale`, the
refusal of a signed callback too old to be new.

A module of its own so that the smart bot's callback (bots.wecom.bot_callback) and the app's
callback with the WSGI shell that routes to both (bots.wecom.callback) share these without
importing each other.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


class JsonBody(bytes):
    """A response body that is JSON (the smart bot's sealed replies)."""


Response = tuple[str, bytes]  # (status line, body): text, or JSON when a `JsonBody`


# A signed callback older than this (or this far ahead of our clock) is refused. The
# duplicate check remembers an event id for REPLYLOOP_DEDUPE_TTL_S only (an hour by
# default): without a bound on age, a captured callback could be replayed after that and be
# taken as new. Five minutes, as Slack bounds its signed requests; WeCom retries a callback
# within seconds.
MAX_AGE_S = 300


def stale(timestamp: str, max_age_s: float, what: str, now: float | None = None) -> Response | None:
    """The refusal of a signed callback whose `timestamp` (epoch seconds, as WeCom signs it)
    is more than `max_age_s` from now; None when it is fresh.

    >>> stale("1000", 300, "callback", now=1200.0) is None
    True
    >>> stale("1000", 300, "callback", now=1400.0)
    ('403 Forbidden', b'stale timestamp\\n')
    >>> stale("soon", 300, "callback", now=1400.0)
    ('400 Bad Request', b'malformed timestamp\\n')
    """
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        log.warning("refused a WeCom %s: timestamp %r is not a number", what, timestamp[:20])
        return "400 Bad Request", b"malformed timestamp\n"
    if abs(age) <= max_age_s:
        return None
    log.warning("refused a WeCom %s signed %.0f s from now (a replay?)", what, -age)
    return "403 Forbidden", b"stale timestamp\n"
