"""The Turn a generated reply is stored as, and `Behind`: a request that must wait for an
earlier reply of its conversation (workers.replier uses both)."""

from __future__ import annotations

from core.types import ChatMessage, GenerationSettings, NewTurn, ReplyContext
from wire.messages import ReplyRequest
from workers.generation import Generation


class Behind(Exception):
    """The message waits for the reply to an earlier one of its conversation, which is
    being made elsewhere (another worker, or a task still queued). Its task is done: the
    worker that stores that reply queues the request again (wire.behind). `backstop`: ask
    again later as well, in case that never happens (wire.messages.ask_again); False when
    the request was queued again already. `ahead`: how many wait before it there."""

    def __init__(
        self, message_id: int, earlier_id: int, backstop: bool = True, ahead: int = 0
    ) -> None:
        super().__init__(f"message {message_id} waits for the reply to message {earlier_id}")
        self.message_id, self.earlier_id, self.backstop = message_id, earlier_id, backstop
        self.ahead = ahead


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
