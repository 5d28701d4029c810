"""Making replies: context from the store, the model's answers, the Turns stored, their
delivery queued.

A batch of requests costs one query to read, one padded generation, one insert, and one
delivery task a platform.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from core.context import build_prompt, messages_that_fit
from core.store import Store
from core.types import (
    ChatMessage,
    Delivery,
    GenerationSettings,
    NewTurn,
    ReplyContext,
    Turn,
    delivery,
)
from workers.batching import Outcome
from workers.celery_app import GENERATE, deliver, enqueue_later
from workers.engine import Engine
from workers.live import LiveText


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


def make_replies(
    store: Store,
    engine: Engine,
    settings: GenerationSettings,
    requests: Sequence[ReplyRequest],
    wait_s: float = 0.0,
    live: LiveText | None = None,
) -> list[Outcome[Turn]]:
    """Generate and store the replies to `requests`, in order, and queue their delivery.

    A request whose Turn exists already (a redelivered task) gets that Turn without
    generating again; it is delivered again unless it was delivered. A conversation gets one
    reply per batch, so a second message sees the reply to the first in its context: the
    later requests answer None (put off). A message whose conversation has an earlier one
    still waiting for its reply waits too: put off when that one is in the batch, else
    answered `Behind`, for up to `wait_s` after it was queued; then it is answered with
    the earlier message as context alone. A `live` request's text so far goes to `live`
    while it is generated.
    """
    started, started_epoch = time.perf_counter(), time.time()
    newest = messages_that_fit(settings.context_token_budget)
    contexts = store.reply_contexts([(r.message_id, r.request_key) for r in requests], newest)
    asked = {r.message_id for r in requests}
    outcomes: list[Outcome[Turn]] = []
    deliveries: list[tuple[str, Delivery]] = []  # (platform, reply)
    chosen: list[tuple[int, ReplyContext, list[ChatMessage]]] = []  # (index, context, prompt)
    conversations: set[int] = set()
    for index, context in enumerate(contexts):
        if isinstance(context, LookupError):
            outcomes.append(context)
            continue
        if context.existing is not None:
            outcomes.append(context.existing)
            if context.existing.platform_message_id is None:
                deliveries.append((context.existing.platform, delivery(context.existing, True)))
            continue
        request = requests[index]
        waiting = request.enqueued_at is not None and started_epoch < request.enqueued_at + wait_s
        if context.waits_on is not None and waiting:
            earlier = context.waits_on
            outcomes.append(None if earlier in asked else Behind(request.message_id, earlier))
            continue
        conversation = context.message.conversation_id
        outcomes.append(None)
        if conversation in conversations:
            continue  # put off to the next batch
        conversations.add(conversation)
        prompt = build_prompt(
            settings.system_prompt,
            context.history,
            context.message.text,
            settings.context_token_budget,
            engine.count_tokens,
        )
        chosen.append((index, context, prompt))
    if not chosen:
        deliver(deliveries)
        return outcomes
    context_s = time.perf_counter() - started
    watch = {}
    if live is not None:
        for row, (index, context, _) in enumerate(chosen):
            if requests[index].live:
                watch[row] = partial(live.write, context.message.id)
    generations = engine.generate_batch([prompt for _, _, prompt in chosen], settings, watch=watch)
    new = []
    for (index, context, prompt), generation in zip(chosen, generations, strict=True):
        request = requests[index]
        message = context.message
        queued = max(0.0, started_epoch - request.enqueued_at) if request.enqueued_at else 0.0
        timings = {
            "queued_s": queued,
            "context_s": context_s,
            "generate_s": generation.seconds,
            "prompt_tokens": generation.prompt_tokens,
            "new_tokens": generation.new_tokens,
            "prompt_cut": float(generation.prompt_cut),
            "batch": generation.batch,
        }
        new.append(
            NewTurn(
                message.conversation_id,
                message.id,
                request.request_key,
                prompt,
                generation.text,
                engine.version,
                settings.as_dict(),
                timings,
                (message.platform, message.chat_key),
            )
        )
    for (index, _, _), turn in zip(chosen, store.add_turns(new), strict=True):
        outcomes[index] = turn
        deliveries.append((turn.platform, delivery(turn)))
    deliver(deliveries)
    return outcomes
