"""The one place each process is wired: logging, Celery, its context, its tasks."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import redis
from pydantic import SecretStr
from redis.exceptions import RedisError

from core.errors import ServiceUnavailable
from core.settings import Settings
from core.urls import mask_url
from wire import process
from wire.app import configure
from wire.process import Process

if TYPE_CHECKING:
    from workers.gpu_process import GpuProcess


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


def bootstrap(settings: Settings, log_level: int = logging.WARNING) -> Process:
    """Wire this process: logging with its secrets hidden, Celery pointed at the broker (or
    running tasks in-process), and the process's context (wire.process) with its store
    opened. A process that sends tasks by name needs no more."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every request's URL at INFO, and a Bot API URL holds the Telegram token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    hide_secrets(settings)
    if settings.broker_url:
        check_broker(settings.broker_url)
    configure(settings)
    return process.start(settings)


def serve_metrics(settings: Settings, queues: tuple[str, ...] = ()) -> None:
    """/metrics on REPLYLOOP_METRICS_PORT, when set (wire.metrics), with the depth and age
    of `queues`."""
    if settings.metrics_port:
        from wire import metrics

        metrics.serve(settings.metrics_port, settings.broker_url, queues)


def io_tasks() -> None:
    """Register the io queue's tasks in this process: delivery to each platform, votes,
    and messages stored late. None of them imports torch."""
    import bots.intake
    import bots.slack.backfill
    import bots.slack.delivery
    import bots.telegram.delivery
    import bots.terminal.delivery
    import bots.votes
    import bots.web.delivery
    import bots.wecom.delivery
    import bots.wecom.feedback  # noqa: F401


def gpu_tasks(context: Process) -> GpuProcess:
    """Register the gpu queue's task in this process (importing torch), and make what it
    generates with (a prefork child loads the model before any task: workers.tasks)."""
    import workers.tasks  # noqa: F401
    from workers import gpu_process

    return gpu_process.start(context)


def embedded(context: Process) -> GpuProcess | None:
    """Without a broker every task runs in this process: register them all, and make what
    replies are generated with. With one, None: this process only sends tasks by name, and
    never imports torch."""
    if not context.settings.embedded:
        return None
    io_tasks()
    return gpu_tasks(context)


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
