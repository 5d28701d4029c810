"""The baseline: plain `model.generate`, one request at a time, in order of arrival."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import torch

from bench.generation.chats import Timing
from core.types import ChatMessage
from workers.engine import Engine


class _FirstToken:
    """A transformers streamer that notes when the first new token comes (the first `put`
    is the prompt)."""

    def __init__(self) -> None:
        self.puts = 0
        self.at: float | None = None

    def put(self, value: Any) -> None:
        self.puts += 1
        if self.puts == 2 and self.at is None:
            self.at = time.perf_counter()

    def end(self) -> None:
        pass


@torch.inference_mode()
def serve(
    engine: Engine,
    prompts: list[list[ChatMessage]],
    chats: int,
    turns: int,
    new_tokens: int,
    fixed_length: bool = False,
) -> list[Timing]:
    model, device = engine.model, engine.device
    queue: deque[tuple[int, int, float]] = deque((c, 0, 0.0) for c in range(chats))
    start = time.perf_counter()
    timings: list[Timing] = []
    while queue:
        chat, turn, arrived = queue.popleft()
        ids = torch.tensor([engine.encode(prompts[chat * turns + turn])], device=device)
        first = _FirstToken()
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens if fixed_length else 0,
            do_sample=False,
            pad_token_id=engine.pad_id,
            streamer=first,
        )
        done = time.perf_counter() - start
        made = [int(t) for t in out[0, ids.shape[1] :].tolist()]
        while made and made[-1] in engine.stop_ids:
            made.pop()
        first_at = (first.at - start) if first.at is not None else done
        timings.append(Timing(chat, arrived, first_at, done, len(made), tuple(made)))
        if turn + 1 < turns:
            queue.append((chat, turn + 1, done))
    return timings
