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
admission. A request may also be pinned to an engine of its own (a canary's: workers.serving
and core.store.canaries). Each engine has a decoder of its own, and the steps go round them;
`max_batch` and the KV budget (in bytes: engines differ in bytes a token) count the rows
of all of them. When the source names another engine (a promotion), new requests join a
decoder for it at once while the old one finishes its rows and is dropped: no reply mixes
two models.
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
    pinned: bool = False  # made with that engine whatever the source says
    conversation: int | None = None  # whose reply: `engine_for` may give it an engine


def kv_budget_bytes(engine: Engine, kv_cache_mb: int) -> int:
    """How many bytes of KV cache the decoders may hold: `kv_cache_mb`, else a share of the
    GPU memory that is free, else CPU_KV_MB."""
    if kv_cache_mb > 0:
        return kv_cache_mb * 2**20
    if engine.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(engine.device)
        return int(free * GPU_KV_SHARE)
    return CPU_KV_MB * 2**20


def kv_budget_tokens(engine: Engine, kv_cache_mb: int) -> int:
    """How many cache tokens (rows x columns) `engine` alone may hold."""
    return max(1, kv_budget_bytes(engine, kv_cache_mb) // engine.kv_bytes_per_token())


def worst_bytes(decoder: Decoder[Engine], joining: Sequence[DecodingRow] = ()) -> int:
    """The KV cache `decoder` holds if every row (and `joining`) runs to its token limit."""
    running = decoder.rows
    if not running and not joining:
        return 0
    to_go = [r.settings.max_new_tokens - len(r.new) for r in running] + [
        r.settings.max_new_tokens for r in joining
    ]
    width = max([decoder.batch.width] + [len(r.ids) for r in joining]) + max(to_go)
    return (len(running) + len(joining)) * width * decoder.engine.kv_bytes_per_token()


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
        engine_for: Callable[[int], Engine | None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._source = engine_source
        # A conversation's own engine (a canary's: workers.serving), asked as its request
        # is admitted, on this thread, right after the source; None: the source's.
        self._engine_for = engine_for
        self.max_batch = max_batch
        self.prefill_tokens = prefill_tokens
        self.kv_cache_mb = kv_cache_mb
        self.text_every_s = text_every_s
        self._waiting: deque[_Waiting] = deque()
        self._ready = threading.Condition()
        # One decoder an engine, the oldest first; `_main` is the source's engine.
        self._decoders: dict[Engine, Decoder[Engine]] = {}
        self._main: Engine | None = None
        self._budget = 0  # bytes of KV cache all the decoders may hold
        self._pid: int | None = None  # the process whose thread decodes
        self._cells = self._padding = 0  # KV cache cells read by the steps, and padding

    def padding_share(self) -> float:
        """Of the KV cache cells the decode steps so far attended over, the share that was
        left padding (the cost of a padded cache rather than a paged one)."""
        return self._padding / self._cells if self._cells else 0.0

    def running_rows(self) -> int:
        """Replies decoding now, every engine's (read from another thread: metrics)."""
        return sum(len(d.rows) for d in list(self._decoders.values()))

    def kv_use(self) -> float:
        """The share of the KV budget the running rows may take, each run to its limit."""
        if not self._budget:
            return 0.0
        return sum(worst_bytes(d) for d in list(self._decoders.values())) / self._budget

    @property
    def engine(self) -> Engine:
        """The engine prompts are encoded for: the source's as last asked, or the one to
        come."""
        return self._main if self._main is not None else self._source()

    def submit(
        self,
        messages: Sequence[ChatMessage],
        settings: GenerationSettings,
        on_text: Callable[[str], None] | None = None,
        seed: int | None = None,
        engine: Engine | None = None,
        conversation: int | None = None,
    ) -> DecodingRow:
        """Queue a reply to `messages` (made by `engine` when given, else by the one
        `engine_for` gives `conversation`, else by the source's); `row.future` gets its
        Generation (or its error), and `on_text` its text so far while it grows (called on
        the decoding thread: keep it short). Encoding happens here, on the caller's thread
        (again at admission for another engine)."""
        pinned = engine is not None
        engine = engine if engine is not None else self.engine
        generator = None
        if seed is not None:
            generator = torch.Generator(device=engine.device).manual_seed(seed)
        row = engine.row(messages, settings, on_text, generator)
        with self._ready:
            self._start()
            self._waiting.append(_Waiting(row, engine, pinned, conversation))
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
            self._decoders = {}
            threading.Thread(target=self._serve, name="decoder", daemon=True).start()

    def _rows(self) -> int:
        return sum(len(d.rows) for d in self._decoders.values())

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._rows():
                    self._ready.wait()
            with torch.inference_mode():
                self._admit()
                for decoder in list(self._decoders.values()):
                    if decoder.rows:
                        self._advance(decoder)
                self._drop_idle()

    def _drop_idle(self) -> None:
        """Drop the decoders of engines the source no longer names once their rows are
        done (an engine holds its model: its memory goes with it)."""
        idle = [e for e, d in self._decoders.items() if not d.rows and e is not self._main]
        if not idle:
            return
        with self._ready:
            wanted = {w.engine for w in self._waiting if w.pinned}
        for engine in idle:
            if engine not in wanted:
                del self._decoders[engine]

    def _advance(self, decoder: Decoder[Engine]) -> None:
        self._cells += decoder.batch.rows * decoder.batch.width
        self._padding += decoder.batch.padding()
        try:
            ended = decoder.advance()
        except Exception as exc:
            rows = list(decoder.rows)
            in_use = decoder.batch.rows * decoder.batch.width
            fresh = Decoder(decoder.engine, self.text_every_s)  # its cache is lost
            self._decoders[decoder.engine] = fresh
            if out_of_memory(exc) and len(rows) > 1:
                self._requeue(rows, in_use * decoder.engine.kv_bytes_per_token(), decoder.engine)
                return
            log.exception("decoding failed for %d rows", len(rows))
            for row in rows:
                error = _refused(row, self._tokens(decoder.engine)) if out_of_memory(exc) else exc
                row.future.set_exception(error)
            return
        for row in ended:
            row.future.set_result(generation_of(decoder.engine, row))

    def _admit(self) -> None:
        """Let the waiting requests that fit join the running batches."""
        with self._ready:
            if not self._waiting:
                return
        self._main = self._source()
        joining: dict[Decoder[Engine], list[_Waiting]] = {}
        with self._ready:
            while self._waiting and self._rows() + _count(joining) < self.max_batch:
                waiting = self._waiting[0]
                decoder = self._decoder_for(self._target(waiting, self._main))
                if not self._ready_to_join(waiting, decoder):
                    self._waiting.popleft()
                    continue
                mine = joining.get(decoder, [])
                if not self._fits(decoder, [*mine, waiting], joining):
                    if mine or self._rows() or _count(joining):
                        break  # waits for rows to leave
                    self._waiting.popleft()
                    error = _refused(waiting.row, self._tokens(decoder.engine))
                    waiting.row.future.set_exception(error)
                    continue
                self._waiting.popleft()
                joining.setdefault(decoder, []).append(waiting)
        for decoder, group in joining.items():
            self._join(decoder, [w.row for w in group], group)

    def _target(self, waiting: _Waiting, main: Engine) -> Engine:
        """The engine a waiting request is made with."""
        if waiting.pinned:
            return waiting.engine
        if waiting.conversation is not None and self._engine_for is not None:
            own = self._engine_for(waiting.conversation)
            if own is not None:
                waiting.pinned = True  # one engine for the whole reply, whatever comes
                return own
        return main

    def _decoder_for(self, engine: Engine) -> Decoder[Engine]:
        decoder = self._decoders.get(engine)
        if decoder is None:
            in_use = sum(worst_bytes(d) for d in self._decoders.values())
            if engine.device.type == "cuda" and self.kv_cache_mb <= 0:
                # the free memory is what the other decoders do not hold already
                self._budget = in_use + kv_budget_bytes(engine, self.kv_cache_mb)
            elif not self._decoders:
                self._budget = kv_budget_bytes(engine, self.kv_cache_mb)
            decoder = self._decoders[engine] = Decoder(engine, self.text_every_s)
        return decoder

    def _tokens(self, engine: Engine) -> int:
        """The budget in `engine`'s tokens (what a refusal tells a person)."""
        return max(1, self._budget // engine.kv_bytes_per_token())

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

    def _fits(
        self,
        decoder: Decoder[Engine],
        rows: list[_Waiting],
        joining: dict[Decoder[Engine], list[_Waiting]],
    ) -> bool:
        """Whether every batch, `decoder`'s with `rows` and the others with theirs, stays
        within the KV budget even if every row runs to its token limit (prefill chunks: at
        most `prefill_tokens` join a decoder at once)."""
        new = [w.row for w in rows]
        if len(new) > 1 and sum(len(r.ids) for r in new) > self.prefill_tokens:
            return False
        others = sum(
            worst_bytes(d, [w.row for w in joining.get(d, [])])
            for d in self._decoders.values()
            if d is not decoder
        )
        return others + worst_bytes(decoder, new) <= self._budget

    def _join(
        self, decoder: Decoder[Engine], rows: list[DecodingRow], joining: list[_Waiting]
    ) -> None:
        try:
            decoder.join(rows)
        except Exception as exc:
            if out_of_memory(exc) and self._rows():
                self._budget = max(1, self._in_use())
                self._put_back(joining)
                return
            if len(rows) > 1:  # the one that fails fails alone
                log.warning(
                    "%d prompts failed to join together (%r): one at a time", len(rows), exc
                )
                for one, waiting in zip(rows, joining, strict=True):
                    self._join(decoder, [one], [waiting])
                return
            error = _refused(rows[0], self._tokens(decoder.engine)) if out_of_memory(exc) else exc
            rows[0].future.set_exception(error)

    def _in_use(self) -> int:
        """Bytes of KV cache the decoders' batches hold now."""
        return sum(
            d.batch.rows * d.batch.width * d.engine.kv_bytes_per_token()
            for d in self._decoders.values()
        )

    def _requeue(self, rows: list[DecodingRow], in_use: int, engine: Engine) -> None:
        """After running out of memory mid-step: the rows start again from their prompts
        (greedy rows make the same text again), and the budget shrinks below what failed."""
        log.warning("out of memory with %d rows: starting them again, fewer at a time", len(rows))
        self._budget = max(1, (in_use + self._in_use()) // 2)
        pinned = engine is not self._main
        for row in rows:
            row.new, row.shown, row.text, row.stopped = [], "", None, ""
        self._put_back([_Waiting(row, engine, pinned) for row in rows])
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _put_back(self, waiting: list[_Waiting]) -> None:
        with self._ready:
            self._waiting.extendleft(reversed(waiting))


def _count(joining: dict[Decoder[Engine], list[_Waiting]]) -> int:
    return sum(len(group) for group in joining.values())


def _refused(row: DecodingRow, budget: int) -> ReplyRefused:
    need = len(row.ids) + row.settings.max_new_tokens
    return ReplyRefused(TOO_BIG.format(need=need, budget=budget))
