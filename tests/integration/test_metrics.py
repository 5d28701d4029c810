"""Each worker's Prometheus /metrics, scraped over HTTP after traffic: the counters moved
by what was sent (replies, tokens and first-token times on the gpu worker; votes and
deliveries on the io worker), and the gauges read at scrape time are there (the batch,
the KV cache, each queue's depth and oldest age)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.types import Vote
from tests.integration.conftest import MAX_NEW_TOKENS, Chat
from tests.integration.scrape import free_port, moved, scrape, value
from tests.integration.workers import Workers, start_workers, worker_env

REPLIES = 5


@pytest.fixture(scope="module")
def workers(
    worker_broker: str, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workers]:
    """A gpu and an io worker on SQLite, each serving /metrics on a port of its own."""
    home = tmp_path_factory.mktemp("metrics-workers")
    env = worker_env(
        worker_broker,
        f"sqlite:///{home / 'replyloop.sqlite3'}",
        tiny_model,
        home,
        max_new_tokens=MAX_NEW_TOKENS,
        reply_timeout_s="60",
    )
    ports = {"gpu": free_port(), "io": free_port()}
    started = Workers(env | {"METRICS_PORTS": f"{ports['gpu']},{ports['io']}"})
    try:
        for queue, port in ports.items():
            one = start_workers(env | {"REPLYLOOP_METRICS_PORT": str(port)}, home, queues=(queue,))
            started.workers.extend(one.workers)
    except RuntimeError as exc:
        started.stop()
        pytest.fail(str(exc), pytrace=False)
    yield started
    started.stop()


def port_of(workers: Workers, queue: str) -> int:
    gpu_port, io_port = workers.env["METRICS_PORTS"].split(",")
    return int(gpu_port if queue == "gpu" else io_port)


def test_the_workers_count_the_replies_votes_and_deliveries_they_made(
    chat: Chat, workers: Workers
) -> None:
    gpu_port, io_port = port_of(workers, "gpu"), port_of(workers, "io")
    gpu_before, io_before = scrape(gpu_port), scrape(io_port)
    turns = []
    for index in range(REPLIES):
        chat.say(f"count me {index}")
        turn = chat.turn()
        turns.append(turn)
        assert chat.vote(turn.id, "person-1", Vote.UP if index % 2 else Vote.DOWN)["ok"]
    version = turns[0].model_version
    gpu, io = scrape(gpu_port), scrape(io_port)

    assert moved(gpu, gpu_before, "replyloop_replies_total", model_version=version) == REPLIES
    first_tokens = "replyloop_time_to_first_token_seconds_count"
    assert moved(gpu, gpu_before, first_tokens, model_version=version) == REPLIES
    tokens = moved(gpu, gpu_before, "replyloop_generated_tokens_total", model_version=version)
    assert REPLIES <= tokens <= REPLIES * int(MAX_NEW_TOKENS)
    assert value(gpu, "replyloop_running_batch_rows") == 0  # all done
    assert ("replyloop_kv_cache_use", ()) in gpu

    votes = moved(
        io, io_before, "replyloop_votes_total", platform="terminal", model_version=version
    )
    assert votes == REPLIES
    runs = moved(
        io, io_before, "replyloop_delivery_runs_total", platform="terminal", outcome="SUCCESS"
    )
    assert 1 <= runs <= REPLIES  # replies finished together go in one delivery task
    for queue in ("gpu", "io"):
        assert value(io, "replyloop_queue_depth", queue=queue) == 0
        assert ("replyloop_queue_oldest_age_seconds", (("queue", queue),)) in io
