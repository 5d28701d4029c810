"""The Slack Web API client the io worker uses, and which of Slack's errors are worth
another try.

Slack answers 429 with Retry-After and sometimes 5xx: the client waits and tries again
itself (slack_sdk's retry handlers). What still fails that way makes the task retry with
backoff (bots.refusals); anything else Slack refuses (`not_in_channel`, `invalid_auth`,
`channel_not_found`, `missing_scope`, ...) is logged with Slack's error code.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from functools import cache

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from bots import refusals
from bots.refusals import RETRY
from bots.slack.settings import SlackSettings

log = logging.getLogger(__name__)

# Slack's error codes for trouble on its side (they come with 200 too, sometimes).
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


@cache
def client(token: str, base_url: str, reconnect: bool = True) -> WebClient:
    """A Web API client per process and token. It waits out a 429 for as long as
    Retry-After says, and tries a 5xx again with backoff, and a dropped connection unless
    `reconnect` is False: chat.postMessage has no idempotency key, and a connection that
    drops after the request left (RemoteDisconnected, a reset) may have posted it. Such a
    post fails the task instead, whose retry looks for the message first
    (bots.slack.delivery)."""
    handlers = [
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
    ]
    if reconnect:
        handlers.insert(0, ConnectionErrorRetryHandler(max_retry_count=2))
    return WebClient(token=token, base_url=base_url, retry_handlers=handlers)


def web_client(settings: SlackSettings, reconnect: bool = True) -> WebClient:
    if settings.slack_bot_token is None:
        raise RuntimeError("SLACK_BOT_TOKEN is not set: the io worker cannot post to Slack")
    return client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url, reconnect)


def transient(exc: SlackApiError) -> bool:
    """Whether Slack's error is trouble on its side, worth another try later."""
    status = exc.response.status_code
    return status == 429 or status >= 500 or exc.response.get("error") in TRANSIENT_ERRORS


def _judge(exc: Exception) -> tuple[str, bool]:
    assert isinstance(exc, SlackApiError)
    code = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    return code, transient(exc)


def refused_logged(what: str) -> AbstractContextManager[list[str]]:
    """bots.refusals.refused_logged for a Slack Web API call."""
    return refusals.refused_logged(what, "Slack", SlackApiError, _judge)


__all__ = ["RETRY", "refused_logged", "transient", "web_client"]
