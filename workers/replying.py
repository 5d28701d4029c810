"""Making replies: context from the store, the model's answers, the Turns stored, their
delivery queued.

A batch of requests costs one query to read, one padded generation, one insert, and one
delivery task a platform.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

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
from workers.celery_app import deliver
from workers.engine import Engine


@dataclass(frozen=True)
class ReplyRequest:
    message_id: int
    request_key: str  # the first reply to a message has a fixed key; each /retry a new one
    enqueued_at: float | None = None  # epoch seconds, for the queued_s timing


def make_replies(
    store: Store,
    engine: Engine,
    settings: GenerationSettings,
    requests: Sequence[ReplyRequest],
) -> list[Outcome[Turn]]:
    """Generate and store the replies to `requests`, in order, and queue their delivery.

    A request whose Turn exists already (a redelivered task) gets that Turn without
    generating again; it is delivered again unless it was delivered. A conversation gets one
    reply per batch, so a second message sees the reply to the first in its context: the
    later requests answer None (put off).
    """
    started, started_epoch = time.perf_counter(), time.time()
    newest = messages_that_fit(settings.context_token_budget)
    contexts = store.reply_contexts([(r.message_id, r.request_key) for r in requests], newest)
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
    generations = engine.generate_batch([prompt for _, _, prompt in chosen], settings)
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
