"""workers.scheduler on a tiny real model: requests decoded together, or joining one already
running, get the text they get alone; cancellation, the wall-clock cap, stop sequences and
the memory budget end or refuse a request as the person would expect."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from core.errors import ReplyRefused
from core.types import ChatMessage, GenerationSettings
from workers.decoder import DecodingRow
from workers.engine import Engine
from workers.generation import CANCELLED, DEADLINE, STOP_TEXT, Generation
from workers.models import ModelSource, load
from workers.scheduler import Scheduler
from workers.tiny_model import make_tiny_model

PROMPTS: list[list[ChatMessage]] = [
    [{"role": "user", "content": "hello"}],
    [{"role": "user", "content": "what is the capital of France? Tell me more, please."}],
    [{"role": "user", "content": "the quick brown fox"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "and then?"}],
]
GREEDY = GenerationSettings(max_new_tokens=24, temperature=0.0)
LONG = GenerationSettings(max_new_tokens=400, temperature=0.0)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    # init_std 0.5: varied tokens, so equal sequences mean something
    path = make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", init_std=0.5)
    model, tokenizer = load(ModelSource(path, "tiny"), device="cpu", threads=1)
    return Engine(model, tokenizer, "tiny")


@pytest.fixture
def scheduler(engine: Engine) -> Scheduler:
    return Scheduler(lambda: engine, max_batch=8, text_every_s=0.0)


def alone(engine: Engine, prompt: list[ChatMessage], settings: GenerationSettings) -> Generation:
    return engine.generate(prompt, settings)


def test_requests_submitted_together_get_their_own_greedy_replies(
    engine: Engine, scheduler: Scheduler
) -> None:
    expected = [alone(engine, p, GREEDY) for p in PROMPTS]
    rows = [scheduler.submit(p, GREEDY) for p in PROMPTS]
    got = [row.future.result(timeout=30) for row in rows]
    assert [g.token_ids for g in got] == [g.token_ids for g in expected]
    assert [g.text for g in got] == [g.text for g in expected]
    assert len({g.token_ids for g in expected}) == len(PROMPTS)  # the replies differ
    assert max(g.batch for g in got) > 1  # and they were decoded together
    assert all(g.version == "tiny" and g.first_token_s > 0 for g in got)


def test_a_request_joining_mid_flight_gets_the_text_it_gets_alone(
    engine: Engine, scheduler: Scheduler
) -> None:
    expected_first = alone(engine, PROMPTS[1], LONG)
    expected_late = [alone(engine, p, GREEDY) for p in (PROMPTS[0], PROMPTS[3])]
    late: list[object] = []

    def on_text(text: str) -> None:  # on the decoding thread, while the first row runs
        if not late and len(text) > 5:
            late.extend(scheduler.submit(p, GREEDY) for p in (PROMPTS[0], PROMPTS[3]))

    first = scheduler.submit(PROMPTS[1], LONG, on_text=on_text)
    got_first = first.future.result(timeout=60)
    got_late = [row.future.result(timeout=60) for row in late]  # type: ignore[attr-defined]
    assert expected_first.new_tokens > 30  # long enough for the others to join it
    assert got_first.token_ids == expected_first.token_ids
    assert [g.token_ids for g in got_late] == [g.token_ids for g in expected_late]
    assert got_first.batch == 3 and all(g.batch >= 2 for g in got_late)
    # the late ones left when they were done, not when the long one was
    assert max(g.new_tokens for g in got_late) < got_first.new_tokens


def slow_watcher(
    delay_s: float, then: Callable[[str], None] | None = None
) -> Callable[[str], None]:
    def on_text(text: str) -> None:
        time.sleep(delay_s)
        if then is not None:
            then(text)

    return on_text


def test_cancelling_ends_a_reply_with_the_text_it_has(engine: Engine, scheduler: Scheduler) -> None:
    whole = alone(engine, PROMPTS[1], LONG)
    rows: list[object] = []
    seen: list[str] = []

    def on_text(text: str) -> None:
        seen.append(text)
        if len(seen) == 5:
            scheduler.cancel(rows[0])  # type: ignore[arg-type]

    rows.append(scheduler.submit(PROMPTS[1], LONG, on_text=on_text))
    got = rows[0].future.result(timeout=30)  # type: ignore[attr-defined]
    assert got.stopped == CANCELLED
    assert 0 < got.new_tokens < whole.new_tokens
    assert whole.token_ids[: got.new_tokens] == got.token_ids


def test_the_wall_clock_cap_ends_a_slow_reply(engine: Engine, scheduler: Scheduler) -> None:
    capped = GenerationSettings(max_new_tokens=400, temperature=0.0, max_seconds=0.5)
    started = time.perf_counter()
    row = scheduler.submit(PROMPTS[1], capped, on_text=slow_watcher(0.05))
    got = row.future.result(timeout=30)
    assert got.stopped == DEADLINE
    assert 0 < got.new_tokens < 30  # about 0.5 s / 0.05 s a step
    assert time.perf_counter() - started < 2.0


def test_a_stop_sequence_ends_the_reply_before_it(engine: Engine, scheduler: Scheduler) -> None:
    whole = alone(engine, PROMPTS[2], GREEDY).text
    stop = whole[len(whole) // 2 : len(whole) // 2 + 3]
    assert stop.strip() and whole.index(stop) > 0
    stopped = GenerationSettings(max_new_tokens=24, temperature=0.0, stop=(stop,))
    got = scheduler.submit(PROMPTS[2], stopped).future.result(timeout=30)
    assert got.stopped == STOP_TEXT
    assert got.text == whole[: whole.index(stop)].strip()


def test_a_request_too_big_for_the_memory_budget_is_refused_and_others_go_on(
    engine: Engine,
) -> None:
    per_token = engine.kv_bytes_per_token()
    budget_tokens = 2**20 // per_token  # kv_cache_mb=1
    scheduler = Scheduler(lambda: engine, max_batch=8, kv_cache_mb=1)
    huge = GenerationSettings(max_new_tokens=budget_tokens, temperature=0.0)
    refused = scheduler.submit(PROMPTS[0], huge)
    fine = scheduler.submit(PROMPTS[1], GREEDY)
    with pytest.raises(ReplyRefused, match="too long for the model's memory"):
        refused.future.result(timeout=30)
    assert fine.future.result(timeout=30).token_ids == alone(engine, PROMPTS[1], GREEDY).token_ids


def test_requests_that_do_not_fit_together_wait_for_room(engine: Engine) -> None:
    per_token = engine.kv_bytes_per_token()
    # room for one LONG row at a time, not two
    budget_tokens = 2**20 // per_token
    settings = GenerationSettings(max_new_tokens=budget_tokens // 2 + 8, temperature=0.0)
    scheduler = Scheduler(lambda: engine, max_batch=8, kv_cache_mb=1)
    rows = [scheduler.submit(p, settings) for p in PROMPTS[:2]]
    got = [row.future.result(timeout=120) for row in rows]
    assert [g.batch for g in got] == [1, 1]  # one after the other
    assert got[1].queued_s > 0


def test_min_new_tokens_holds_back_the_end_token(engine: Engine, scheduler: Scheduler) -> None:
    ends_early = next(
        (p, g) for p in PROMPTS if (g := alone(engine, p, LONG)).stopped == "eos"
    )  # a reply the model ends itself
    prompt, natural = ends_early
    longer = GenerationSettings(
        max_new_tokens=natural.new_tokens + 10,
        temperature=0.0,
        min_new_tokens=natural.new_tokens + 10,
    )
    got = scheduler.submit(prompt, longer).future.result(timeout=30)
    assert got.new_tokens == natural.new_tokens + 10 and got.stopped == "length"
    assert got.token_ids[: natural.new_tokens] == natural.token_ids


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A second model (a canary's), other weights and a wider hidden size."""
    path = make_tiny_model(
        tmp_path_factory.mktemp("other") / "model", seed=1, hidden=48, init_std=0.5
    )
    model, tokenizer = load(ModelSource(path, "other"), device="cpu", threads=1)
    return Engine(model, tokenizer, "other")


def test_requests_pinned_to_another_engine_decode_beside_the_main_ones(
    engine: Engine, other: Engine, scheduler: Scheduler
) -> None:
    expected = [alone(engine, p, GREEDY) for p in PROMPTS[:2]]
    expected_other = [alone(other, p, GREEDY) for p in PROMPTS[2:]]
    assert [g.token_ids for g in expected_other] != [
        alone(engine, p, GREEDY).token_ids for p in PROMPTS[2:]
    ]  # the two models answer differently
    rows = [scheduler.submit(p, GREEDY) for p in PROMPTS[:2]]
    pinned = [scheduler.submit(p, GREEDY, engine=other) for p in PROMPTS[2:]]
    got = [row.future.result(timeout=30) for row in rows]
    got_other = [row.future.result(timeout=30) for row in pinned]
    assert [g.token_ids for g in got] == [g.token_ids for g in expected]
    assert [g.token_ids for g in got_other] == [g.token_ids for g in expected_other]
    assert {g.version for g in got} == {"tiny"} and {g.version for g in got_other} == {"other"}
    assert max(g.batch for g in got + got_other) == 2  # each model's rows batched apart


def test_max_batch_counts_the_rows_of_every_engine(engine: Engine, other: Engine) -> None:
    scheduler = Scheduler(lambda: engine, max_batch=1, text_every_s=0.0)
    first = scheduler.submit(PROMPTS[1], LONG, on_text=slow_watcher(0.01))
    first_done: list[bool] = []
    pinned = scheduler.submit(
        PROMPTS[2],
        GREEDY,
        on_text=lambda text: first_done.append(first.future.done()),
        engine=other,
    )
    assert first.future.result(timeout=120).batch == 1
    assert pinned.future.result(timeout=120).version == "other"
    assert first_done and all(first_done)  # it began once the first was done


def test_a_new_main_engine_takes_new_requests_while_the_old_one_finishes(
    engine: Engine, other: Engine
) -> None:
    serving = [engine]
    scheduler = Scheduler(lambda: serving[0], max_batch=8, text_every_s=0.0)
    late: list[DecodingRow] = []
    done: list[str] = []

    def on_text(text: str) -> None:  # the old model's reply is under way: promote
        if not late and len(text) > 5:
            serving[0] = other
            late.append(scheduler.submit(PROMPTS[0], GREEDY))
            late[0].future.add_done_callback(lambda _: done.append("late"))

    first = scheduler.submit(PROMPTS[1], LONG, on_text=on_text)
    first.future.add_done_callback(lambda _: done.append("first"))
    got_first = first.future.result(timeout=60)
    got_late = late[0].future.result(timeout=60)
    assert got_first.version == "tiny"
    assert got_first.token_ids == alone(engine, PROMPTS[1], LONG).token_ids
    assert got_late.version == "other"
    assert got_late.token_ids == alone(other, PROMPTS[0], GREEDY).token_ids
    assert got_first.new_tokens > got_late.new_tokens + 10
    assert done == ["late", "first"]  # it did not wait for the old model's reply
