"""One generation loop per worker process, serving every concurrent request on it.

Callers `submit` a prompt from any thread and get its `DecodingRow` (whose future holds the
reply; `row.cancel()` ends it early). One thread owns the model: between decode steps it
admits the requests waiting then (continuous batching: they join the running batch, and the
rows that are done leave it at once; workers.decoder), as many as fit:

- at most `max_batch` rows decode together, and at most `prefill_tokens` prompt tokens join
  at one step (a long prefill stalls the rows being decoded);
- the KV cache stays within `kv_budget` tokens (rows x columns, padding included, counted
  for the worst case: every row running to its token limit). A request that could not fit
  even alone is refused at once with a reason a person can read (core.errors.ReplyRefused),
  not an out-of-memory crash; others wait for rows to leave. If the device still runs out
  of memory, the requests of that step go back to the front of the queue and the budget
  shrinks to what was in use;
- a request whose deadline passes while it waits is refused; one that passes it while
  decoding ends with the text it has.

The model comes from `engine_source` (the promoted one, workers.serving), asked before each
admission. When it names another engine, admission stops until the running rows are done,
then the new engine takes over: no reply mixes two models.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from core.errors import ReplyRefused
from core.types import ChatMessage, GenerationSettings
from workers.decoder import Decoder, DecodingRow, generation_of
from workers.engine import Engine
from workers.generation import CANCELLED

log = logging.getLogger(__name__)

CPU_KV_MB = 4096  # the KV cache budget on CPU when none is set
GPU_KV_SHARE = 0.8  # of the GPU memory free once the model is loaded

TOO_BIG = (
    "This conversation is too long for the model's memory on this worker ({need} tokens, "
    "at most {budget}). Start a new conversation, or ask for a shorter reply."
)
WAITED = "The bot is too busy to answer in time (waited {waited:.0f} s). Try again shortly."


@dataclass(eq=False)
class _Waiting:
    row: DecodingRow
    engine: Engine  # the engine that encoded the prompt


def kv_budget_tokens(engine: Engine, kv_cache_mb: int) -> int:
    """How many cache tokens (rows x columns) `engine` may hold: `kv_cache_mb`, else a share
    of the GPU memory that is free, else CPU_KV_MB."""
    if kv_cache_mb > 0:
        budget = kv_cache_mb * 2**20
    elif engine.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(engine.device)
        budget = int(free * GPU_KV_SHARE)
    else:
        budget = CPU_KV_MB * 2**20
    return max(1, budget // engine.kv_bytes_per_token())


def out_of_memory(error: BaseException) -> bool:
    """CUDA raises OutOfMemoryError; the CPU allocator a RuntimeError that says so."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and (
        "not enough memory" in text or "can't allocate memory" in text
    )


class Scheduler:
    def __init__(
        self,
        engine_source: Callable[[], Engine],
        max_batch: int = 16,
        prefill_tokens: int = 4096,
        kv_cache_mb: int = 0,
        text_every_s: float = 0.3,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._source = engine_source
        self.max_batch = max_batch
        self.prefill_tokens = prefill_tokens
        self.kv_cache_mb = kv_cache_mb
        self.text_every_s = text_every_s
        self._waiting: deque[_Waiting] = deque()
        self._ready = threading.Condition()
        self._decoder: Decoder[Engine] | None = None
        self._budget = 0  # KV cache tokens (rows x columns) the decoder may hold
        self._pid: int | None = None  # the process whose thread decodes
        self._cells = self._padding = 0  # KV cache cells read by the steps, and padding

    def padding_share(self) -> float:
        """Of the KV cache cells the decode steps so far attended over, the share that was
        left padding (the cost of a padded cache rather than a paged one)."""
        return self._padding / self._cells if self._cells else 0.0

    @property
    def engine(self) -> Engine:
        """The engine prompts are encoded for: the running one, or the one to come."""
        decoder = self._decoder
        return decoder.engine if decoder is not None else self._source()

    def submit(
        self,
        messages: Sequence[ChatMessage],
        settings: GenerationSettings,
        on_text: Callable[[str], None] | None = None,
        seed: int | None = None,
    ) -> DecodingRow:
        """Queue a reply to `messages`; `row.future` gets its Generation (or its error), and
        `on_text` its text so far while it grows (called on the decoding thread: keep it
        short). Encoding happens here, on the caller's thread."""
        engine = self.engine
        generator = None
        if seed is not None:
            generator = torch.Generator(device=engine.device).manual_seed(seed)
        row = engine.row(messages, settings, on_text, generator)
        with self._ready:
            self._start()
            self._waiting.append(_Waiting(row, engine))
            self._ready.notify()
        return row

    def cancel(self, row: DecodingRow) -> None:
        row.cancel()
        with self._ready:
            self._ready.notify()

    def _start(self) -> None:
        # Threads do not survive fork: a prefork child starts its own.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._waiting.clear()
            self._decoder = None
            threading.Thread(target=self._serve, name="decoder", daemon=True).start()

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not (self._decoder and self._decoder.rows):
                    self._ready.wait()
            with torch.inference_mode():
                self._admit()
                if self._decoder is not None and self._decoder.rows:
                    self._advance(self._decoder)

    def _advance(self, decoder: Decoder[Engine]) -> None:
        self._cells += decoder.batch.rows * decoder.batch.width
        self._padding += decoder.batch.padding()
        try:
            ended = decoder.advance()
        except Exception as exc:
            rows = list(decoder.rows)
            self._decoder = Decoder(decoder.engine, self.text_every_s)  # its cache is lost
            if out_of_memory(exc) and len(rows) > 1:
                self._requeue(rows, decoder.batch.rows * decoder.batch.width)
                return
            log.exception("decoding failed for %d rows", len(rows))
            for row in rows:
                row.future.set_exception(_refused(row, self._budget) if out_of_memory(exc) else exc)
            return
        for row in ended:
            row.future.set_result(generation_of(decoder.engine, row))

    def _admit(self) -> None:
        """Let the waiting requests that fit join the running batch."""
        with self._ready:
            if not self._waiting:
                return
        decoder = self._decoder_for(self._source())
        if decoder is None:
            return  # a new model waits for the running rows to finish
        joining: list[_Waiting] = []
        with self._ready:
            while self._waiting and len(decoder.rows) + len(joining) < self.max_batch:
                waiting = self._waiting[0]
                if not self._ready_to_join(waiting, decoder):
                    self._waiting.popleft()
                    continue
                if joining and not self._fits(decoder, [*joining, waiting]):
                    break
                if not joining and not self._fits(decoder, [waiting]):
                    if decoder.rows:
                        break  # waits for rows to leave
                    self._waiting.popleft()
                    waiting.row.future.set_exception(_refused(waiting.row, self._budget))
                    continue
                self._waiting.popleft()
                joining.append(waiting)
        if joining:
            self._join(decoder, [w.row for w in joining], joining)

    def _decoder_for(self, engine: Engine) -> Decoder[Engine] | None:
        decoder = self._decoder
        if decoder is not None and decoder.engine is engine:
            return decoder
        if decoder is not None and decoder.rows:
            return None
        self._decoder = Decoder(engine, self.text_every_s)
        self._budget = kv_budget_tokens(engine, self.kv_cache_mb)
        return self._decoder

    def _ready_to_join(self, waiting: _Waiting, decoder: Decoder[Engine]) -> bool:
        """False for a request that ends before it starts (cancelled, or past its deadline:
        its future is set); re-encodes a prompt made for another engine."""
        row = waiting.row
        if row.cancelled:
            row.stopped = CANCELLED
            row.future.set_result(generation_of(decoder.engine, row))
            return False
        now = time.perf_counter()
        if row.deadline is not None and now >= row.deadline:
            text = WAITED.format(waited=now - row.submitted)
            row.future.set_exception(ReplyRefused(text))
            return False
        if waiting.engine is not decoder.engine:
            fresh = decoder.engine.row(row.messages, row.settings)
            row.ids, row.cut = fresh.ids, fresh.cut
            waiting.engine = decoder.engine
        return True

    def _fits(self, decoder: Decoder[Engine], joining: list[_Waiting]) -> bool:
        """Whether the batch with `joining` stays within the KV budget even if every row
        runs to its token limit (prefill chunks: at most `prefill_tokens` join at once)."""
        rows = [w.row for w in joining]
        if len(rows) > 1 and sum(len(r.ids) for r in rows) > self.prefill_tokens:
            return False
        running = decoder.rows
        to_go = [r.settings.max_new_tokens - len(r.new) for r in running] + [
            r.settings.max_new_tokens for r in rows
        ]
        width = max([decoder.batch.width] + [len(r.ids) for r in rows]) + max(to_go)
        return (len(running) + len(rows)) * width <= self._budget

    def _join(
        self, decoder: Decoder[Engine], rows: list[DecodingRow], joining: list[_Waiting]
    ) -> None:
        try:
            decoder.join(rows)
        except Exception as exc:
            if out_of_memory(exc) and decoder.rows:
                self._budget = max(1, decoder.batch.rows * decoder.batch.width)
                self._put_back(joining)
                return
            if len(rows) > 1:  # the one that fails fails alone
                log.warning(
                    "%d prompts failed to join together (%r): one at a time", len(rows), exc
                )
                for one, waiting in zip(rows, joining, strict=True):
                    self._join(decoder, [one], [waiting])
                return
            error = _refused(rows[0], self._budget) if out_of_memory(exc) else exc
            rows[0].future.set_exception(error)

    def _requeue(self, rows: list[DecodingRow], in_use: int) -> None:
        """After running out of memory mid-step: the rows start again from their prompts
        (greedy rows make the same text again), and the budget shrinks below what failed."""
        log.warning("out of memory with %d rows: starting them again, fewer at a time", len(rows))
        self._budget = max(1, in_use // 2)
        engine = self._decoder.engine if self._decoder else self.engine
        for row in rows:
            row.new, row.shown, row.text, row.stopped = [], "", None, ""
        self._put_back([_Waiting(row, engine) for row in rows])
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _put_back(self, waiting: list[_Waiting]) -> None:
        with self._ready:
            self._waiting.extendleft(reversed(waiting))


def _refused(row: DecodingRow, budget: int) -> ReplyRefused:
    need = len(row.ids) + row.settings.max_new_tokens
    return ReplyRefused(TOO_BIG.format(need=need, budget=budget))
