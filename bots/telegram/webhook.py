"""Webhook mode: Telegram POSTs each update to a URL of ours instead of being polled.

Served by waitress with a small WSGI app of our own, as Slack's HTTP mode is
(bots.slack.serve), rather than python-telegram-bot's `run_webhook`: that one needs tornado
(not otherwise a dependency here), answers only its one path (no `GET /healthz` for a load
balancer), and hides how the secret is compared. Here:

- `POST <the URL's path>`: the `X-Telegram-Bot-Api-Secret-Token` header must equal
  TELEGRAM_WEBHOOK_SECRET (compared in constant time, hmac.compare_digest); a wrong or
  missing one gets 403 and the update is dropped, logged without either secret. A body
  that is not an update gets 400. An accepted update is put on the Application's
  update_queue, the queue long polling fills, and answered 200 at once: the handlers
  (bots.telegram.app) run in the order updates came, and a redelivered update
  (Telegram retries what it thinks went unanswered) is dropped there by its update_id.
- `GET /healthz`: 200 "ok"; anything else 404.

python-telegram-bot runs on an asyncio loop in a thread of its own; waitress's threads hand
it updates with `run_coroutine_threadsafe`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import Application

from bots.http_server import MAX_BODY

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"  # as WSGI names the header
SECRET_FORM = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as secret_token
QUEUE_WAIT_S = 10.0

StartResponse = Callable[..., Any]
Wsgi = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
TelegramApp = Application[Any, Any, Any, Any, Any, Any]
T = TypeVar("T")


def webhook_path(url: str) -> str:
    """The path Telegram will POST to.

    >>> webhook_path("https://bot.example.com/telegram/webhook"), webhook_path("https://h")
    ('/telegram/webhook', '/')
    """
    return urlsplit(url).path or "/"


def check_webhook(url: str, secret: str) -> None:
    """Raise ValueError, in one line, for a URL or a secret Telegram or we cannot use.

    >>> check_webhook("https://h/telegram/webhook", "s3cret_-X")
    >>> check_webhook("https://h/healthz", "s3cret")
    Traceback (most recent call last):
    ...
    ValueError: the webhook URL's path cannot be /healthz (the health check's)
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"--webhook {url!r} is not a URL like https://bot.example.com/path")
    if webhook_path(url) == HEALTH_PATH:
        raise ValueError(f"the webhook URL's path cannot be {HEALTH_PATH} (the health check's)")
    if not SECRET_FORM.fullmatch(secret):
        raise ValueError(
            "TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -"
        )


def wsgi(path: str, secret: str, deliver: Callable[[dict[str, Any]], None]) -> Wsgi:
    """The HTTP app: updates at `path` (checked, then handed to `deliver`), a health check,
    404 for anything else."""
    expected = secret.encode()

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        at, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if at == HEALTH_PATH and method in ("GET", "HEAD"):
            return _answer(start_response, "200 OK", b"ok\n")
        if at != path or method != "POST":
            return _answer(start_response, "404 Not Found", b"not found\n")
        given = str(environ.get(SECRET_HEADER, "")).encode()
        if not hmac.compare_digest(given, expected):
            log.warning(
                "refused a webhook request from %s: %s secret token",
                environ.get("REMOTE_ADDR"),
                "wrong" if given else "no",
            )
            return _answer(start_response, "403 Forbidden", b"forbidden\n")
        update = _update(environ)
        if update is None:
            log.warning("refused a webhook request: the body is not a Telegram update")
            return _answer(start_response, "400 Bad Request", b"not an update\n")
        try:
            deliver(update)
        except UnreadableUpdate as exc:
            # Telegram retries anything but a 2xx, and this update will never read better.
            log.warning("update %s could not be read (%s): dropped", update["update_id"], exc)
        return _answer(start_response, "200 OK", b"")

    return application


class UnreadableUpdate(ValueError):
    """A body shaped like an update (a JSON object with an update_id) whose fields are not
    what Telegram sends: python-telegram-bot cannot build an Update from it."""


def _update(environ: dict[str, Any]) -> dict[str, Any] | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= MAX_BODY:
        return None
    try:
        body = json.loads(environ["wsgi.input"].read(length))
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("update_id"), int):
        return None
    return body


def _answer(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class Loop:
    """python-telegram-bot's Application on an asyncio loop in a thread of its own."""

    def __init__(self, application: TelegramApp) -> None:
        self.application = application
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="telegram", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop, from any thread; its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def deliver(self, data: dict[str, Any]) -> None:
        """Hand one update to the Application, as long polling does."""
        try:
            update = Update.de_json(data, self.application.bot)
        # OverflowError and OSError: a date past what the platform's time_t holds.
        except (
            TypeError,
            ValueError,
            KeyError,
            AttributeError,
            IndexError,
            OverflowError,
            OSError,
        ) as exc:
            raise UnreadableUpdate(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        self.run(self.application.update_queue.put(update), QUEUE_WAIT_S)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(QUEUE_WAIT_S)
