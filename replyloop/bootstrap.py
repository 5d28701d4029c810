"""The one place each process is wired: logging, Celery, the store, the runtime."""

from __future__ import annotations

import logging
import re

import redis
from pydantic import SecretStr
from redis.exceptions import RedisError

from core.errors import ServiceUnavailable
from core.settings import Settings
from core.urls import mask_url
from workers import runtime
from workers.celery_app import configure


def check_broker(url: str) -> None:
    """One clear line, not a traceback, when the broker cannot be reached."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ServiceUnavailable(
            f"REPLYLOOP_BROKER_URL={mask_url(url)} is not a Redis URL (redis://host:6379/0)"
        )
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except RedisError as exc:
        raise ServiceUnavailable(
            f"cannot reach the broker at {mask_url(url)} ({exc}). Start Redis "
            "(redis-server) or fix REPLYLOOP_BROKER_URL; unset it to run in one process."
        ) from exc


def bootstrap(
    settings: Settings,
    preload_engine: bool = False,
    run_tasks_here: bool = False,
    log_level: int = logging.WARNING,
) -> runtime.Runtime:
    """Wire this process. `run_tasks_here`: an embedded chat runs the tasks itself."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every request's URL at INFO, and a Bot API URL holds the Telegram token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    hide_secrets(settings)
    if settings.broker_url:
        check_broker(settings.broker_url)
    app = configure(settings)
    if settings.embedded and run_tasks_here:
        # Tasks run in this process: register them all (importing torch). A distributed
        # chat or bot process only sends tasks by name and never imports them.
        app.loader.import_default_modules()
    rt = runtime.init(settings, preload_engine)
    rt.store  # noqa: B018 - open (and migrate) now, so a bad URL fails at start-up
    return rt


# Shorter values are masked only as whole values: wherever they occur, a one-letter
# WECOM_SECRET turned "assume" into "a******ume" on every line. Every real token is far
# longer (Slack's xoxb-/xapp- 50+, Telegram's about 46, WeCom's secret and EncodingAESKey 43,
# a signing secret 32) and is masked anywhere, inside URLs and words too.
MIN_HIDDEN_CHARS = 8


class HiddenSecrets(logging.Filter):
    """Replaces secrets in a record's message and traceback by `***`. One of MIN_HIDDEN_CHARS
    or more is replaced wherever it occurs, inside URLs too; a shorter one only where it stands
    as a value of its own, with no letter, digit, _ or ' touching it (`corpsecret=s&`, not the
    s of "assume" or "it's"). On the handlers, so it covers every logger's records (a
    logger's own filters see only its records).

    >>> HiddenSecrets({"s", "pw1"}).hide("Will assume it; corpsecret=s&user=bot:pw1@db")
    'Will assume it; corpsecret=***&user=bot:***@db'
    """

    def __init__(self, secrets: set[str]) -> None:
        super().__init__()
        # Longest first: a secret that holds another is hidden whole.
        ordered = sorted((secret for secret in secrets if secret), key=len, reverse=True)
        self.patterns = [
            re.compile(
                re.escape(secret)
                if len(secret) >= MIN_HIDDEN_CHARS
                else rf"(?<![\w']){re.escape(secret)}(?![\w'])"
            )
            for secret in ordered
        ]

    def hide(self, text: str) -> str:
        for pattern in self.patterns:
            text = pattern.sub("***", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = self.hide(message)
        if hidden != message:
            record.msg, record.args = hidden, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.hide(logging.Formatter().formatException(record.exc_info))
        return True


def hide_secrets(settings: Settings) -> None:
    """Keep the settings' secrets (tokens, passwords) out of this process's logs: a
    library that logs a URL or quotes a token in an error (python-telegram-bot's
    InvalidToken does) shows `***` instead."""
    secrets = {
        value.get_secret_value()
        for name in type(settings).model_fields
        if isinstance(value := getattr(settings, name), SecretStr) and value.get_secret_value()
    }
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, HiddenSecrets)]:
            handler.removeFilter(old)
        if secrets:
            handler.addFilter(HiddenSecrets(secrets))
