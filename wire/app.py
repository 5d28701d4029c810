"""The Celery app: queues, routes and the reliability settings every process shares.

Creating the app does no I/O; `configure` is called once by each process's entry point.
Tasks are routed by name (wire.queues), so a bot process can send work without importing
torch.
"""

from __future__ import annotations

import warnings
from typing import Any

from celery import Celery
from celery.exceptions import SecurityWarning

from core.settings import Settings
from wire.broker import SCHEMES
from wire.queues import IO_QUEUE, ROUTES

# No `include`: each worker command imports the task modules of its own queue
# (replyloop.commands), so the io worker never imports torch.
app = Celery("replyloop")

# 0, 0.5, 1, ... 3 s apart: 22 tries over about 55 s.
PUBLISH_RETRY = {"max_retries": 22, "interval_start": 0, "interval_step": 0.5, "interval_max": 3}


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
        # kombu's Redis transport, less a client object made per command (wire.broker)
        broker_transport="wire.broker:Transport" if scheme in SCHEMES else None,
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
        # A send while the broker is away (a Redis restart) is tried again for about a
        # minute before it fails; Celery's default gives up after about 0.6 s.
        task_publish_retry=True,
        task_publish_retry_policy=PUBLISH_RETRY,
        worker_hijack_root_logger=False,
        task_routes=ROUTES,
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
