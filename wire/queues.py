"""The queues and the names of the tasks on them.

A task is routed by its name, so a process can send work it has not imported: an adapter
queues generation without importing torch, a gpu worker queues delivery without importing
a platform SDK.
"""

from __future__ import annotations

GPU_QUEUE = "gpu"
IO_QUEUE = "io"

GENERATE = "replyloop.generate"
# A message an adapter could not store itself (the database was down): stored from io.
INTAKE = "replyloop.intake"
VOTE = "replyloop.feedback.vote"
# A vote named by the platform's id of the rated reply (a Slack reaction knows only that).
PLATFORM_VOTE = "replyloop.feedback.platform_vote"


def deliver_task(platform: str) -> str:
    """Each platform registers its delivery task under this name, on the io queue: the
    replies of one generated batch for that platform (`wire.messages.Deliveries`)."""
    return f"replyloop.deliver.{platform}"


def notice_task(platform: str) -> str:
    """Each platform's task that tells a chat something went wrong (`wire.messages.Notice`).
    On the io queue."""
    return f"replyloop.deliver.{platform}.notice"


# Everything not named here goes to the io queue (task_default_queue).
ROUTES = {
    GENERATE: {"queue": GPU_QUEUE},
    "replyloop.deliver.*": {"queue": IO_QUEUE},
    "replyloop.feedback.*": {"queue": IO_QUEUE},
    INTAKE: {"queue": IO_QUEUE},
}
