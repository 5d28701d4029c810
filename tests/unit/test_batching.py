"""workers.batching.Batcher: requests that wait together are served together, each gets its
own outcome, and a request put off goes first in the next batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from workers.batching import Batcher, Outcome


def wait_until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_requests_waiting_together_form_one_batch() -> None:
    release = threading.Event()
    batches: list[list[int]] = []

    def work(requests: Sequence[int]) -> list[Outcome[int]]:
        batches.append(list(requests))
        release.wait(5)
        return [r * 10 for r in requests]

    batcher: Batcher[int, int] = Batcher(work, max_batch=4)
    results: dict[int, int] = {}

    def submit(n: int) -> None:
        results[n] = batcher.submit(n, timeout=10)

    threads = [threading.Thread(target=submit, args=(0,))]
    threads[0].start()
    wait_until(lambda: batches == [[0]])  # the first goes alone, at once
    for n in range(1, 7):
        threads.append(threading.Thread(target=submit, args=(n,)))
        threads[-1].start()
    wait_until(lambda: len(batcher._waiting) == 6)
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == {n: n * 10 for n in range(7)}
    assert batches == [[0], [1, 2, 3, 4], [5, 6]]  # arrival order, at most max_batch


def test_each_request_gets_its_own_error_and_put_off_ones_come_next() -> None:
    batches: list[list[str]] = []
    release = threading.Event()

    def work(requests: Sequence[str]) -> list[Outcome[str]]:
        batches.append(list(requests))
        release.wait(5)
        outcomes: list[Outcome[str]] = []
        seen: set[str] = set()
        for r in requests:
            if r == "bad":
                outcomes.append(LookupError("no such thing"))
            elif r[0] in seen:  # one per "conversation" (first letter) a batch
                outcomes.append(None)
            else:
                seen.add(r[0])
                outcomes.append(r.upper())
        return outcomes

    batcher: Batcher[str, str] = Batcher(work, max_batch=8)
    results: dict[str, object] = {}

    def submit(r: str) -> None:
        try:
            results[r] = batcher.submit(r, timeout=10)
        except LookupError as exc:
            results[r] = exc

    first = threading.Thread(target=submit, args=("z0",))
    first.start()
    wait_until(lambda: len(batches) == 1)
    threads = [first]
    for r in ("a1", "a2", "bad", "c1", "a3"):
        threads.append(threading.Thread(target=submit, args=(r,)))
        threads[-1].start()
        expected = len(threads) - 1
        wait_until(lambda: len(batcher._waiting) == expected)  # noqa: B023 - used at once
    release.set()
    for thread in threads:
        thread.join(10)
    assert batches == [["z0"], ["a1", "a2", "bad", "c1", "a3"], ["a2", "a3"], ["a3"]]
    assert {k: v for k, v in results.items() if k != "bad"} == {
        "z0": "Z0",
        "a1": "A1",
        "a2": "A2",
        "c1": "C1",
        "a3": "A3",
    }
    assert isinstance(results["bad"], LookupError)


def test_a_failing_batch_fails_each_request_and_the_batcher_goes_on() -> None:
    calls = 0

    def work(requests: Sequence[int]) -> list[Outcome[int]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return list(requests)

    batcher: Batcher[int, int] = Batcher(work, max_batch=2)
    with pytest.raises(ConnectionError, match="went away"):
        batcher.submit(1, timeout=5)
    assert batcher.submit(2, timeout=5) == 2


def test_work_that_puts_off_everything_is_an_error_not_a_hang() -> None:
    batcher: Batcher[int, int] = Batcher(lambda requests: [None] * len(requests), max_batch=2)
    with pytest.raises(RuntimeError, match="put off every request"):
        batcher.submit(1, timeout=5)


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Batcher(lambda requests: list(requests), max_batch=0)


def test_a_request_that_fails_its_batch_fails_alone() -> None:
    """One request the work cannot serve (here 13) sinks its batch; the batch is served
    again one request at a time, so only that request gets the error."""
    batches: list[list[int]] = []
    busy, go_on = threading.Event(), threading.Event()

    def work(requests: Sequence[int]) -> list[Outcome[int]]:
        batches.append(list(requests))
        if requests == [0]:  # holds the serving thread while the others queue up
            busy.set()
            go_on.wait(5)
        if 13 in requests:
            raise ValueError("13 is refused")
        return [r * 10 for r in requests]

    batcher: Batcher[int, int] = Batcher(work, max_batch=8)
    first = batcher.enqueue(0)
    assert busy.wait(5)
    futures = [batcher.enqueue(r) for r in (1, 13, 2)]
    go_on.set()
    assert first.result(5) == 0
    assert futures[0].result(5) == 10 and futures[2].result(5) == 20
    with pytest.raises(ValueError, match="13 is refused"):
        futures[1].result(5)
    assert batches == [[0], [1, 13, 2], [1], [13], [2]]
