"""The Bot API client the io worker uses: plain synchronous HTTP, the same base URL as the
adapter's python-telegram-bot (TELEGRAM_API_URL, the token appended), and which of
Telegram's errors are worth another try.

Delivery runs in a Celery worker thread, where python-telegram-bot's asyncio Bot would need
an event loop (and a getMe) per task; the Bot API is a POST of JSON, so this is one httpx
client per process. Telegram's flood control answers 429 with `parameters.retry_after`:
the call waits that long and tries again (up to FLOOD_WAITS times, each wait at most
MAX_WAIT_S); a longer wait is left to the task (`retry_after` on the error). 5xx and
dropped connections make the task retry with backoff (bots.refusals); anything else
Telegram refuses (403: the bot was blocked or removed; 400: chat not found) is logged
with Telegram's description.

A call that must not be made twice (sendMessage: the Bot API has no idempotency key)
passes a `Mark` (bots.telegram.once). Its request is written all but its last byte, then
the mark is told, then the last byte goes: a server acts on a request only once it has the
whole of it, so a process killed before the mark reached Redis sent nothing Telegram can
act on, and one killed after it can be told from the mark. The call tells the mark when
Telegram surely did nothing (the request never fully left, or Telegram answered with an
error), so it may be tried again. A request written whose answer never came is `unsure`:
Telegram may have done it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from functools import cache
from typing import Any, Protocol

import httpx

from bots import refusals
from bots.refusals import RETRY
from bots.telegram.settings import TelegramSettings

log = logging.getLogger(__name__)

FLOOD_WAITS = 3
MAX_WAIT_S = 30.0
TIMEOUT_S = 20.0


class BotApiError(Exception):
    """Telegram did not do what a call asked. `status` 0: no answer (the network)."""

    def __init__(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: float | None = None,
        unsure: bool = False,
    ) -> None:
        super().__init__(f"{method}: {status} {description}")
        self.method = method
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.unsure = unsure  # the request left whole and no answer said what became of it


class Mark(Protocol):
    """What a call that must not be made twice records around its request."""

    def sending(self) -> None:
        """The request is about to leave (no byte of it has yet); raising stops it."""
        ...

    def not_sent(self) -> None:
        """Telegram surely did nothing: the request never left whole, or it answered with
        an error. Sending it again is safe."""
        ...


class _Leaving:
    """One marked request's body, written in two pieces with `mark.sending()` between them
    (the last byte is what completes the request), and httpcore's trace hook saying
    whether that last byte was written."""

    def __init__(self, mark: Mark, body: bytes) -> None:
        self.mark = mark
        self.body = body
        self.started = self.written = False

    def pieces(self) -> Iterator[bytes]:
        yield self.body[:-1]
        self.mark.sending()
        self.started = True
        yield self.body[-1:]

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Content-Length": str(len(self.body))}

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith(".send_request_body.complete") and self.started:
            self.written = True


def api_url(base_url: str, token: str) -> str:
    """The Bot API base with the token in it, as python-telegram-bot builds it (`{token}`
    marks where it goes; otherwise it is appended).

    >>> api_url("https://api.telegram.org/bot", "1:A"), api_url("http://h/x/{token}/", "1:A")
    ('https://api.telegram.org/bot1:A', 'http://h/x/1:A/')
    """
    if "{token}" in base_url:
        return base_url.replace("{token}", token)
    return base_url + token


class BotApi:
    def __init__(self, token: str, base_url: str, http: httpx.Client) -> None:
        self._base = api_url(base_url, token).rstrip("/")
        self._http = http

    def call(self, method: str, params: dict[str, Any], mark: Mark | None = None) -> Any:
        """The `result` of one Bot API method, flood waits included; `mark` told about
        each try's request (see Mark)."""
        for waited in range(FLOOD_WAITS + 1):
            try:
                return self._post(method, params, mark)
            except BotApiError as exc:
                wait = exc.retry_after
                if wait is None or wait > MAX_WAIT_S or waited == FLOOD_WAITS:
                    raise
                log.warning("Telegram flood control on %s: waiting %.0f s", method, wait)
                time.sleep(wait)
        raise AssertionError("unreachable: the last try returns or raises")

    def once(self, method: str, params: dict[str, Any]) -> Any:
        """The `result` of one Bot API method, tried once: flood control is raised
        (BotApiError with `retry_after`), never waited out (a streamed reply's edits)."""
        return self._post(method, params)

    def _post(self, method: str, params: dict[str, Any], mark: Mark | None = None) -> Any:
        url = f"{self._base}/{method}"
        leaving = _Leaving(mark, _json(params)) if mark is not None else None
        try:
            if leaving is None:
                response = self._http.post(url, json=params)
            else:
                response = self._http.post(
                    url,
                    content=leaving.pieces(),
                    headers=leaving.headers(),
                    extensions={"trace": leaving},
                )
        except httpx.TransportError as exc:
            unsure = leaving is not None and leaving.written
            if leaving is not None and leaving.started and not unsure:
                leaving.mark.not_sent()
            # The message names the error, never the URL (it holds the token).
            raise BotApiError(method, 0, type(exc).__name__, unsure=unsure) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and body is not None and body.get("ok"):
            return body.get("result")
        # An answer that is not the result says nothing was done; but a gateway timeout
        # does not say whether Telegram, behind it, did it.
        unsure = response.status_code == 504
        if leaving is not None and not unsure:
            leaving.mark.not_sent()
        if body is None:
            raise BotApiError(method, response.status_code, "not JSON", unsure=unsure)
        retry_after = (body.get("parameters") or {}).get("retry_after")
        raise BotApiError(
            method,
            int(body.get("error_code") or response.status_code),
            str(body.get("description") or ""),
            float(retry_after) if retry_after is not None else None,
            unsure,
        )


def _json(params: dict[str, Any]) -> bytes:
    """The body httpx's `json=` sends."""
    return json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()


def unchanged(exc: BotApiError) -> bool:
    """Telegram refuses an edit that changes nothing ("message is not modified"): for an
    edit that may be made twice (a task that runs again), that is success."""
    return exc.status == 400 and "message is not modified" in exc.description


def gone(exc: BotApiError) -> bool:
    """The message to edit is no longer there to edit (deleted meanwhile)."""
    return exc.status == 400 and any(
        words in exc.description for words in ("message to edit not found", "can't be edited")
    )


@cache
def client(token: str, base_url: str, timeout_s: float = TIMEOUT_S) -> BotApi:
    """A Bot API client per process, token and timeout (httpx's pool is thread-safe)."""
    return BotApi(token, base_url, httpx.Client(timeout=timeout_s))


def bot_api(settings: TelegramSettings) -> BotApi:
    if settings.telegram_bot_token is None:
        raise RuntimeError("TELEGRAM_BOT_TOKEN is not set: the io worker cannot send to Telegram")
    return client(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url)


def _judge(exc: Exception) -> tuple[str, bool]:
    assert isinstance(exc, BotApiError)
    code = f"{exc.status} {exc.description}".strip()
    return code, exc.status in (0, 429) or exc.status >= 500


def refused_logged(what: str) -> AbstractContextManager[list[str]]:
    """bots.refusals.refused_logged for a Bot API call."""
    return refusals.refused_logged(what, "Telegram", BotApiError, _judge)


__all__ = [
    "RETRY",
    "BotApi",
    "BotApiError",
    "Mark",
    "bot_api",
    "client",
    "gone",
    "refused_logged",
    "unchanged",
]
