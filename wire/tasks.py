"""Typed task messages: what a sender puts on a queue is what its task gets.

A task's arguments travel as one JSON object, the fields of a frozen dataclass
(`TaskMessage`). The sender builds the dataclass and `send`s it; the task is declared with
`handles(MessageType)` and receives the same dataclass, rebuilt. Both ends name the same
type, so mypy checks that a sender and its task agree, which six positional arguments
lined up three packages apart never were.

A message queued by the release before, whose arguments were positional in the order of
the fields, is still understood (`TaskMessage.from_wire`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, Self, TypeVar

from celery.result import AsyncResult
from sqlalchemy.exc import OperationalError

from wire.app import app
from wire.publish import Publisher

_publisher = Publisher(app)


@dataclasses.dataclass(frozen=True)
class TaskMessage:
    """The arguments of one task. A subclass names its task in `TASK`; where each platform
    has a task of its own for the same message (delivery, notices), the sender names it."""

    TASK: ClassVar[str] = ""

    def to_wire(self) -> dict[str, Any]:
        """The message as JSON-ready fields."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_wire(cls, *args: Any, **kwargs: Any) -> Self:
        """The message from a task's arguments: one object of fields (as `send` sends it),
        or the positional arguments a sender of the release before used.

        A missing or unknown field is a TypeError naming it, as calling a function with
        wrong arguments is: Celery logs it, and the task fails rather than guessing."""
        if len(args) == 1 and not kwargs and isinstance(args[0], dict):
            return cls(**args[0])
        return cls(*args, **kwargs)


# Options of a task that writes the store: a database that blinks (failover, restart) is
# retried with backoff, not lost.
STORE_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 8,
}

M = TypeVar("M", bound=TaskMessage)
R = TypeVar("R")


def send(message: TaskMessage, task: str | None = None) -> None:
    """Queue `message` for its task (`task`, where the message type has one a platform), no
    result wanted: one LPUSH on a Redis broker (wire.publish); run here and now when the
    app runs tasks in-process."""
    _publisher.send(_task(message, task), [message.to_wire()])


def send_later(message: TaskMessage, countdown: float) -> None:
    """`send`, to run `countdown` seconds from now."""
    app.signature(_task(message, None), args=[message.to_wire()]).apply_async(
        countdown=countdown, ignore_result=True
    )


def ask(message: TaskMessage) -> AsyncResult:
    """Queue `message` for its task and keep the result (the task must be declared with
    `ignore_result=False`): `.get(timeout=...)` waits for it."""
    return app.signature(_task(message, None), args=[message.to_wire()]).apply_async()


def _task(message: TaskMessage, task: str | None) -> str:
    name = task or message.TASK
    if not name:
        raise ValueError(f"{type(message).__name__} has a task a platform: name it")
    return name


def handles(
    kind: type[M], name: str | None = None, /, **options: Any
) -> Callable[[Callable[[M], R]], Any]:
    """Declare the task that handles messages of `kind` (under `kind.TASK`, or `name`
    where one message type has a task per platform). `options` are Celery's
    (`autoretry_for`, `ignore_result`, `base`, ...)."""

    def declare(handle: Callable[[M], R]) -> Any:
        def run(*args: Any, **kwargs: Any) -> R:
            return handle(kind.from_wire(*args, **kwargs))

        return app.task(name=name or kind.TASK, **options)(_named_like(run, handle))

    return declare


def handles_bound(
    kind: type[M], name: str | None = None, /, **options: Any
) -> Callable[[Callable[[Any, M], R]], Any]:
    """`handles`, for a task that needs its Celery task object first (to retry itself, or
    read its request's redelivery flags)."""

    def declare(handle: Callable[[Any, M], R]) -> Any:
        def run(task: Any, *args: Any, **kwargs: Any) -> R:
            return handle(task, kind.from_wire(*args, **kwargs))

        declared = _named_like(run, handle)
        return app.task(name=name or kind.TASK, bind=True, **options)(declared)

    return declare


def _named_like(run: Callable[..., R], handle: Callable[..., Any]) -> Callable[..., R]:
    # Not functools.wraps: Celery checks a call's arguments against the signature it finds,
    # and wraps would point it at the handler's (one message), not the wire's.
    run.__name__, run.__qualname__ = handle.__name__, handle.__qualname__
    run.__module__, run.__doc__ = handle.__module__, handle.__doc__
    return run
