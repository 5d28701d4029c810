"""What a reply request is, and the Turn a generated reply becomes (workers.replier makes
them)."""

from __future__ import annotations

from dataclasses import dataclass

from core.types import ChatMessage, GenerationSettings, NewTurn, ReplyContext
from workers.celery_app import GENERATE, enqueue_later
from workers.engine import Generation


class Behind(Exception):
    """The message waits for the reply to an earlier one of its conversation, which is
    being made elsewhere (another worker, or a task still queued): ask again shortly."""

    def __init__(self, message_id: int, earlier_id: int) -> None:
        super().__init__(f"message {message_id} waits for the reply to message {earlier_id}")
        self.message_id, self.earlier_id = message_id, earlier_id


@dataclass(frozen=True)
class ReplyRequest:
    message_id: int
    request_key: str  # the first reply to a message has a fixed key; each /retry a new one
    enqueued_at: float | None = None  # epoch seconds, for the queued_s timing
    live: bool = False  # the text so far is wanted while it grows (workers.live)


# How soon a message that waits for an earlier one's reply asks again.
POLL_S = 0.2


def ask_again(request: ReplyRequest) -> None:
    """Queue `request` again, shortly (it is `Behind`); it keeps its first queue time, so
    its wait is bounded from when it first arrived."""
    enqueue_later(
        GENERATE,
        POLL_S,
        request.message_id,
        request.request_key,
        request.enqueued_at,
        request.live,
    )


def new_turn(
    request: ReplyRequest,
    context: ReplyContext,
    prompt: list[ChatMessage],
    generation: Generation,
    settings: GenerationSettings,
    context_s: float,
    taken_at: float,
) -> NewTurn:
    """The Turn to store for a generated reply, with how long each part took (`taken_at`:
    epoch seconds when the worker took the request)."""
    message = context.message
    waited = max(0.0, taken_at - request.enqueued_at) if request.enqueued_at else 0.0
    timings = {
        "queued_s": waited + generation.queued_s,
        "context_s": context_s,
        "generate_s": generation.seconds,
        "first_token_s": waited + generation.first_token_s,
        "prompt_tokens": generation.prompt_tokens,
        "new_tokens": generation.new_tokens,
        "prompt_cut": float(generation.prompt_cut),
        "batch": generation.batch,
    }
    return NewTurn(
        message.conversation_id,
        message.id,
        request.request_key,
        prompt,
        generation.text,
        generation.version,
        settings.as_dict(),
        timings,
        (message.platform, message.chat_key),
    )
