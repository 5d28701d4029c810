"""The Celery app: queues, routes and the reliability settings every process shares.

Creating the app does no I/O; `configure` is called once by each process's entry point.
Tasks are routed by name, so a bot process can enqueue work without importing torch.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Sequence
from typing import Any

from celery import Celery
from celery.exceptions import SecurityWarning

from core.settings import Settings
from core.types import Delivery
from workers.broker import SCHEMES
from workers.publish import Publisher

GPU_QUEUE = "gpu"
IO_QUEUE = "io"

GENERATE = "replyloop.generate"
# A message an adapter could not store itself (the database was down): stored from io.
INTAKE = "replyloop.intake"
VOTE = "replyloop.feedback.vote"
# A vote named by the platform's id of the rated reply (a Slack reaction knows only that).
PLATFORM_VOTE = "replyloop.feedback.platform_vote"


def deliver_task(platform: str) -> str:
    """Each platform registers its delivery task under this name, on the io queue. It takes
    a list of `core.types.Delivery`: the replies of one generated batch for that platform."""
    return f"replyloop.deliver.{platform}"


def notice_task(platform: str) -> str:
    """Each platform's task that tells a chat something went wrong: (chat key, message id,
    text). On the io queue."""
    return f"replyloop.deliver.{platform}.notice"


app = Celery(
    "replyloop",
    include=[
        "workers.tasks",
        "bots.terminal.delivery",
        "bots.slack.delivery",
        "bots.slack.backfill",
        "bots.telegram.delivery",
        "bots.wecom.delivery",
        "bots.wecom.feedback",
    ],
)
_publisher = Publisher(app)


def configure(settings: Settings) -> Celery:
    """Point the app at the broker, or make it run tasks in-process when there is none."""
    transport: dict[str, Any] = {
        # A task whose worker died is handed out again after visibility_timeout; keep it
        # above the longest generation. kombu scans for such tasks every
        # interval * throttle seconds (default 100 s): 10 s here.
        "visibility_timeout": settings.visibility_timeout_s,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }
    scheme = (settings.broker_url or "").split("://", 1)[0]
    app.conf.update(
        broker_url=settings.broker_url or "memory://localhost/",
        # kombu's Redis transport, less a client object made per command (workers.broker)
        broker_transport="workers.broker:Transport" if scheme in SCHEMES else None,
        result_backend=settings.broker_url or None,
        task_always_eager=settings.embedded,
        # Embedded, a failed task must reach its on_failure (which tells the chat), not
        # crash the chat.
        task_eager_propagates=False,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_expires=3600,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_routes={
            GENERATE: {"queue": GPU_QUEUE},
            "replyloop.deliver.*": {"queue": IO_QUEUE},
            "replyloop.feedback.*": {"queue": IO_QUEUE},
            INTAKE: {"queue": IO_QUEUE},
        },
        task_default_queue=IO_QUEUE,
    )
    quiet_root_warning(app)
    return app


def quiet_root_warning(app: Celery) -> None:
    """Celery warns every worker run as root ("running the worker with superuser
    privileges", celery.platforms.check_privileges). The danger it names is a root worker
    that unpickles what the broker hands it, and that one Celery refuses outright unless
    C_FORCE_ROOT is set. A worker that accepts JSON only runs no code from a message, and in
    a container root is the usual user: there the warning is noise, so only then it goes."""
    if set(app.conf.accept_content) <= {"json", "application/json"}:
        warnings.filterwarnings(
            "ignore",
            message="You're running the worker with superuser privileges",
            category=SecurityWarning,
        )


def enqueue(name: str, *args: Any) -> None:
    """Queue task `name` with `args`, no result wanted: one LPUSH on a Redis broker
    (workers.publish). Saying "no result" matters: a task sent by name is otherwise taken
    to have a result, and the Redis result backend subscribes to its channel on every send."""
    _publisher.send(name, list(args))


def request_reply(
    message_id: int, retry: bool = False, retry_id: str | None = None, live: bool = False
) -> str:
    """Queue generation of a reply (or, with retry, of a sibling reply) to a stored message.

    Returns the request key: the first reply to a message has a fixed one, so a message
    that is delivered twice is answered once; every retry gets a fresh one, unless the
    platform names the retry (`retry_id`: a task that runs twice asks for one sibling).
    `live`: the text so far is written while it is generated (workers.live).
    """
    key = f"retry:{retry_id or uuid.uuid4().hex}" if retry else f"msg:{message_id}"
    enqueue(GENERATE, message_id, key, time.time(), *([True] if live else []))
    return key


def enqueue_later(name: str, countdown: float, *args: Any) -> None:
    """`enqueue`, to run `countdown` seconds from now."""
    app.signature(name, args=list(args)).apply_async(countdown=countdown, ignore_result=True)


def deliver(deliveries: Sequence[tuple[str, Delivery]]) -> None:
    """Queue the deliveries of one batch, (platform, delivery) each: one task a platform."""
    by_platform: dict[str, list[Delivery]] = {}
    for platform, reply in deliveries:
        by_platform.setdefault(platform, []).append(reply)
    for platform, replies in by_platform.items():
        enqueue(deliver_task(platform), replies)
