"""The engine: every chat's request joins the running batch (workers.scheduler)."""

from __future__ import annotations

import queue
import time
from concurrent.futures import Future

from bench.generation.chats import Timing
from core.types import ChatMessage, GenerationSettings
from workers.engine import Engine
from workers.generation import Generation
from workers.scheduler import Scheduler


def serve(
    engine: Engine,
    prompts: list[list[ChatMessage]],
    chats: int,
    turns: int,
    new_tokens: int,
    max_batch: int,
    fixed_length: bool = False,
) -> tuple[list[Timing], float]:
    """The timings, and the share of KV cache cells that were left padding. `fixed_length`:
    every reply is exactly `new_tokens` long (the end token is not picked before)."""
    settings = GenerationSettings(
        max_new_tokens=new_tokens,
        temperature=0.0,
        context_token_budget=4096,
        max_seconds=None,
        min_new_tokens=new_tokens if fixed_length else 0,
    )
    scheduler = Scheduler(lambda: engine, max_batch=max_batch)
    done: queue.SimpleQueue[tuple[int, int, float, Generation]] = queue.SimpleQueue()
    start = time.perf_counter()

    def send(chat: int, turn: int) -> None:
        arrived = time.perf_counter() - start
        row = scheduler.submit(prompts[chat * turns + turn], settings)

        def finished(future: Future[Generation]) -> None:
            done.put((chat, turn, arrived, future.result()))

        row.future.add_done_callback(finished)

    for chat in range(chats):
        send(chat, 0)
    timings: list[Timing] = []
    while len(timings) < chats * turns:
        chat, turn, arrived, made = done.get()
        finished = time.perf_counter() - start
        first = arrived + made.first_token_s
        timings.append(Timing(chat, arrived, first, finished, made.new_tokens, made.token_ids))
        if turn + 1 < turns:
            send(chat, turn + 1)
    return timings, scheduler.padding_share()
