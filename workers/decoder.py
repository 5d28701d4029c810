"""`Decoder`: continuous batching. Requests join the running batch at the next step and
leave the step they are done, without waiting for the longest. Also here: `DecodingRow`, one
request while it is decoded, `pick_tokens`, how a row's next token is chosen, and
`generation_of`, what a finished row's request gets.

A `Decoder` holds the rows of one `RunningBatch` (workers.running_batch) and what each row's
request asked for (token limit, wall-clock deadline, stop sequences, a watcher of its text).
`advance()` is one step for all rows: pick each row's next token, finish the rows that are
done, feed the rest their tokens. It has no thread and no queue: `workers.scheduler` drives
it for a worker's concurrent chats, `Engine.generate_batch` for a fixed list of prompts.

It needs of its engine only what `DecoderEngine` names, so workers.engine can build on it
without this module importing the engine back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import torch

from core.types import ChatMessage, GenerationSettings
from workers.generation import CANCELLED, DEADLINE, EOS, LENGTH, STOP_TEXT, Generation
from workers.running_batch import RunningBatch


class DecoderEngine(Protocol):
    """What a Decoder uses of its engine (workers.engine.Engine): the model, its pad and stop
    tokens, text from tokens, and the model version its replies are stamped with."""

    model: Any
    pad_id: int
    stop_ids: frozenset[int]
    version: str

    def decode(self, token_ids: Sequence[int]) -> str: ...


EngineT = TypeVar("EngineT", bound=DecoderEngine)


@dataclass(eq=False)
class DecodingRow:
    """One request while it is decoded."""

    ids: list[int]  # the prompt's tokens
    settings: GenerationSettings
    messages: Sequence[ChatMessage] = ()  # the prompt, to encode again for another model
    cut: bool = False  # the prompt lost its oldest tokens to the budget
    on_text: Callable[[str], None] | None = None  # gets the text so far while it grows
    generator: torch.Generator | None = None  # seeded sampling
    deadline: float | None = None  # perf_counter time at which the row ends as it is
    submitted: float = field(default_factory=time.perf_counter)
    future: Future[Generation] = field(default_factory=Future)
    new: list[int] = field(default_factory=list)  # tokens made so far, stop token excluded
    started: float = 0.0  # when it joined the batch
    first_token_at: float | None = None
    cancelled: bool = False
    stopped: str = ""  # why it ended: EOS, LENGTH, STOP_TEXT, DEADLINE or CANCELLED
    text: str | None = None  # the final text when a stop sequence cut it
    most_rows: int = 0  # the largest batch it was decoded in
    shown: str = ""  # what on_text was last told
    next_show: float = 0.0

    def cancel(self) -> None:
        """End the row at the next step, with the text it has (its future gets it)."""
        self.cancelled = True


class Decoder(Generic[EngineT]):
    def __init__(self, engine: EngineT, text_every_s: float = 0.3) -> None:
        self.engine = engine
        self.batch = RunningBatch(engine.model, engine.pad_id)
        self.rows: list[DecodingRow] = []
        self.text_every_s = text_every_s
        self._logits: torch.Tensor | None = None  # (B, V): each row's next-token scores

    def join(self, rows: list[DecodingRow]) -> None:
        """Prefill `rows` and add them to the batch; they get their first token at the next
        `advance`."""
        logits = self.batch.join([row.ids for row in rows])  # (n, V)
        now = time.perf_counter()
        for row in rows:
            row.started = now
            row.next_show = now + self.text_every_s
        self.rows.extend(rows)
        pending = self._logits
        self._logits = logits if pending is None else torch.cat([pending, logits])

    def advance(self) -> list[DecodingRow]:
        """One step for every row; the rows that ended, gone from the batch."""
        if not self.rows:
            return []
        assert self._logits is not None and self._logits.shape[0] == len(self.rows)
        picked = self._pick(self._logits)
        now = time.perf_counter()
        staying: list[int] = []
        ended: list[DecodingRow] = []
        for index, (row, token) in enumerate(zip(self.rows, picked, strict=True)):
            row.most_rows = max(row.most_rows, len(self.rows))
            if row.first_token_at is None:
                row.first_token_at = now
            if self._ends(row, token, now):
                ended.append(row)
            else:
                staying.append(index)
        self.batch.keep(staying)
        self.rows = [self.rows[i] for i in staying]
        if not self.rows:
            self._logits = None
            return ended
        self._show(now)
        tokens = [picked[i] for i in staying]
        self._logits = self.batch.step(tokens)
        return ended

    def _ends(self, row: DecodingRow, token: int, now: float) -> bool:
        """Take `token` into `row`; whether the row is done (and why, in `row.stopped`)."""
        if row.cancelled:
            row.stopped = CANCELLED
        elif token in self.engine.stop_ids:
            row.stopped = EOS
        else:
            row.new.append(token)
            if row.settings.stop and self._cut_at_stop(row):
                row.stopped = STOP_TEXT
            elif len(row.new) >= row.settings.max_new_tokens:
                row.stopped = LENGTH
            elif row.deadline is not None and now >= row.deadline:
                row.stopped = DEADLINE
        return bool(row.stopped)

    def _cut_at_stop(self, row: DecodingRow) -> bool:
        """Whether the newest tokens complete a stop sequence; if so the row's text is cut
        before it. Only the tail is decoded: enough tokens to spell the longest one."""
        longest = max(len(s) for s in row.settings.stop)
        tail = self.engine.decode(row.new[-(longest + 2) :])
        if not any(stop in tail for stop in row.settings.stop):
            return False
        text = self.engine.decode(row.new)
        at = min(text.find(stop) for stop in row.settings.stop if stop in text)
        row.text = text[:at].strip()
        return True

    def _pick(self, logits: torch.Tensor) -> list[int]:
        """Each row's next token; rows that sample alike are picked in one go. A row short
        of its `min_new_tokens` cannot pick a stop token (as transformers' generate does)."""
        early = [i for i, row in enumerate(self.rows) if len(row.new) < row.settings.min_new_tokens]
        if early and self.engine.stop_ids:
            logits = logits.clone()
            stops = torch.tensor(sorted(self.engine.stop_ids), device=logits.device)
            rows = torch.tensor(early, device=logits.device)
            logits[rows[:, None], stops[None, :]] = float("-inf")
        picked = [0] * len(self.rows)
        groups: dict[tuple[float, float, int], list[int]] = {}
        for index, row in enumerate(self.rows):
            key = (row.settings.temperature, row.settings.top_p, id(row.generator))
            groups.setdefault(key, []).append(index)
        for indices in groups.values():
            first = self.rows[indices[0]]
            rows_logits = logits if len(indices) == len(self.rows) else logits[indices]
            tokens = pick_tokens(
                rows_logits, first.settings.temperature, first.settings.top_p, first.generator
            )
            for index, token in zip(indices, tokens, strict=True):
                picked[index] = token
        return picked

    def _show(self, now: float) -> None:
        """Tell each watched row its text so far, when it is due and changed (a character
        still being spelled out in several tokens is left for the next time)."""
        for row in self.rows:
            if row.on_text is None or now < row.next_show:
                continue
            row.next_show = now + self.text_every_s
            text = self.engine.decode(row.new).rstrip("\ufffd").rstrip()
            if text != row.shown:
                row.shown = text
                row.on_text(text)


def pick_tokens(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> list[int]:
    """Each row's next token: greedy at temperature 0, else nucleus sampling, all rows in
    one go. logits: (B, V)"""
    if temperature <= 0:
        return [int(t) for t in logits.argmax(-1).tolist()]
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        # keep the smallest set whose mass reaches top_p (always at least the top token)
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= top_p
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    picked = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return [int(t) for t in picked.tolist()]


def generation_of(engine: DecoderEngine, row: DecodingRow) -> Generation:
    """What a finished row's request gets."""
    done = time.perf_counter()
    text = row.text if row.text is not None else engine.decode(row.new)
    first = row.first_token_at if row.first_token_at is not None else done
    return Generation(
        text=text,
        prompt_tokens=len(row.ids),
        new_tokens=len(row.new),
        seconds=done - row.started,
        prompt_cut=row.cut,
        batch=row.most_rows,
        token_ids=tuple(row.new),
        first_token_s=first - row.submitted,
        queued_s=row.started - row.submitted,
        stopped=row.stopped,
        version=engine.version,
    )
