"""Which platform errors are worth another try, for every platform's io tasks.

A platform's API fails in two ways. Trouble on its side (rate limits, 5xx, "busy") may
pass: the call raises `Transient`, and the task retries with backoff (`RETRY`). Anything
else (the bot left the channel, the user is outside the app's range, a revoked token) would
be refused again: it is logged with the platform's code, and the task goes on with its
other work instead of retrying for minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from wire import metrics

log = logging.getLogger(__name__)


class Transient(Exception):
    """The platform failed in a way that may pass: try the task again later."""


# Retries of a failed io task (after the client's own, if it has any): 8 with backoff. A
# database that blinks is one reason: a reply posted but not yet marked delivered when
# PostgreSQL restarted was left unmarked, and votes on it kept waiting. The task that runs
# again finds what it posted (Slack's metadata, Telegram's claimed parts, WeCom's own
# duplicate check) rather than posting it twice.
RETRY = {
    "autoretry_for": (Transient, OSError, OperationalError),
    "retry_backoff": True,
    "max_retries": 8,
}

# (the platform's code for an error, whether it may pass)
Judge = Callable[[Exception], tuple[str, bool]]


@contextmanager
def refused_logged(
    what: str, platform: str, errors: type[Exception], judge: Judge
) -> Iterator[list[str]]:
    """Run a platform call for `what`. An `errors` exception that may pass raises
    `Transient`; one the platform would repeat is logged, and the list yielded gets its
    code (it stays empty when the call went through)."""
    refused: list[str] = []
    try:
        yield refused
    except errors as exc:
        code, transient = judge(exc)
        metrics.DELIVERY_ERRORS.labels(platform.lower(), code, str(transient).lower()).inc()
        if transient:
            raise Transient(f"{what}: {platform} says {code}") from exc
        refused.append(code)
        log.error("%s: %s refused it (%s); not trying again", what, platform, code)
