"""The Slack Web API client the io worker uses, and which of Slack's errors are worth
another try.

Slack answers 429 with Retry-After and sometimes 5xx: the client waits and tries again
itself (slack_sdk's retry handlers). What still fails that way is `Transient` and makes the
task retry with backoff. Anything else Slack refuses (`not_in_channel`, `invalid_auth`,
`channel_not_found`, `missing_scope`, ...) would be refused again: it is logged with
Slack's error code and the task goes on with its other work, instead of retrying for
minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from core.settings import Settings

log = logging.getLogger(__name__)

# Slack's error codes for trouble on its side (they come with 200 too, sometimes).
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class Transient(Exception):
    """Slack failed in a way that may pass: try the task again later."""


# Retries of a failed task (after the client's own on 429 and 5xx): 8 with backoff.
RETRY = {"autoretry_for": (Transient, OSError), "retry_backoff": True, "max_retries": 8}


@cache
def client(token: str, base_url: str) -> WebClient:
    """A Web API client per process and token. It waits out a 429 for as long as
    Retry-After says, and tries a 5xx or a dropped connection again with backoff."""
    return WebClient(
        token=token,
        base_url=base_url,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def web_client(settings: Settings) -> WebClient:
    if settings.slack_bot_token is None:
        raise RuntimeError("SLACK_BOT_TOKEN is not set: the io worker cannot post to Slack")
    return client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)


def error_code(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or f"HTTP {exc.response.status_code}")


def is_transient(exc: SlackApiError) -> bool:
    status = exc.response.status_code
    return status == 429 or status >= 500 or error_code(exc) in TRANSIENT_ERRORS


@contextmanager
def refused_logged(what: str) -> Iterator[list[str]]:
    """Run a Slack call for `what`: an error Slack would repeat is logged, and the list
    yielded gets its code (empty if none); a passing one raises `Transient`."""
    refused: list[str] = []
    try:
        yield refused
    except SlackApiError as exc:
        if is_transient(exc):
            raise Transient(f"{what}: Slack says {error_code(exc)}") from exc
        refused.append(error_code(exc))
        log.error("%s: Slack refused it (%s); not trying again", what, error_code(exc))
