"""Making one reply: context from the store, the model's answer, the Turn stored."""

from __future__ import annotations

import time

from core.context import build_prompt
from core.store import Store
from core.types import GenerationSettings, Turn
from workers.engine import Engine


def make_reply(
    store: Store,
    engine: Engine,
    settings: GenerationSettings,
    message_id: int,
    request_key: str,
    enqueued_at: float | None = None,
) -> Turn:
    """Generate and store the reply to `message_id`; a second call with the same
    request_key returns the stored Turn without generating again."""
    started = time.perf_counter()
    queued = max(0.0, time.time() - enqueued_at) if enqueued_at else 0.0
    existing, message, history = store.reply_context(message_id, request_key)
    if existing is not None:
        return existing
    prompt = build_prompt(
        settings.system_prompt,
        history,
        message.text,
        settings.context_token_budget,
        engine.count_tokens,
    )
    context_s = time.perf_counter() - started
    generation = engine.generate(prompt, settings)
    turn = store.add_turn(
        conversation_id=message.conversation_id,
        message_id=message_id,
        request_key=request_key,
        prompt=prompt,
        completion=generation.text,
        model_version=engine.version,
        settings=settings.as_dict(),
        timings={
            "queued_s": queued,
            "context_s": context_s,
            "generate_s": generation.seconds,
            "prompt_tokens": generation.prompt_tokens,
            "new_tokens": generation.new_tokens,
            "prompt_cut": float(generation.prompt_cut),
        },
        chat=(message.platform, message.chat_key),
    )
    return turn
