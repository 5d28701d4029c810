"""Prometheus metrics of every process (prometheus-client), and the endpoint that serves
them: `/metrics` on REPLYLOOP_METRICS_PORT (0: none), started by replyloop.bootstrap for
the workers and the adapters (the Procfile gives each its own port).

What each kind of process counts (the names Grafana's dashboard in ops/ uses):

- adapters: messages taken from people, by platform; votes, by platform and model version;
- gpu workers: replies made, tokens generated, time to first token and tokens a second,
  by model version; rows decoding now and the share of the KV cache budget they may take
  (read at scrape time);
- io workers: delivery tasks' runs by platform and outcome; platform refusals by platform,
  code and whether they are tried again; votes the io queue recorded; sweeper re-queues and
  give-ups; and each queue's depth and its oldest request's age (read from Redis at scrape
  time).

Metrics never stop the work they count: an endpoint that cannot bind its port is logged,
and the process goes on without it.
"""

from __future__ import annotations

import json
import logging
import time
from base64 import b64decode
from collections.abc import Callable, Iterable
from typing import Any

import redis
from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

MESSAGES = Counter("replyloop_messages", "Messages taken from people, by platform", ["platform"])
VOTES = Counter(
    "replyloop_votes",
    "Votes recorded, by platform and the rated reply's model version ('kept': its reply "
    "not stored yet)",
    ["platform", "model_version"],
)
REPLIES = Counter("replyloop_replies", "Replies made, by model version", ["model_version"])
TOKENS = Counter(
    "replyloop_generated_tokens", "Tokens generated, by model version", ["model_version"]
)
FIRST_TOKEN = Histogram(
    "replyloop_time_to_first_token_seconds",
    "From a request's admission to its first token, by model version",
    ["model_version"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
TOKEN_RATE = Histogram(
    "replyloop_reply_tokens_per_second",
    "A reply's tokens after the first over the time they took, by model version",
    ["model_version"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
DELIVERIES = Counter(
    "replyloop_delivery_runs",
    "Delivery tasks' runs, by platform and outcome (SUCCESS, RETRY, FAILURE)",
    ["platform", "outcome"],
)
DELIVERY_ERRORS = Counter(
    "replyloop_delivery_errors",
    "Platform refusals of a delivery, by platform, the platform's code, and whether the "
    "call is tried again",
    ["platform", "code", "retried"],
)
SWEPT = Counter("replyloop_sweeper_requeued", "Messages the sweeper asked a reply for again")
GIVEN_UP = Counter("replyloop_sweeper_given_up", "Messages the sweeper gave up (their chat told)")
CONSOLE_SECONDS = Histogram(
    "replyloop_console_request_seconds",
    "The console's answers, by route and status (a stream: until its end)",
    ["route", "status"],
)
ROWS = Gauge("replyloop_running_batch_rows", "Replies decoding together now")
KV_USE = Gauge(
    "replyloop_kv_cache_use",
    "Share of the KV cache budget the decoding rows may take (each run to its limit)",
)


def reply_made(version: str, new_tokens: int, first_token_s: float, seconds: float) -> None:
    """Count one reply a gpu worker made (`seconds`: from its request to its last token)."""
    REPLIES.labels(version).inc()
    TOKENS.labels(version).inc(new_tokens)
    if new_tokens:
        FIRST_TOKEN.labels(version).observe(first_token_s)
    if new_tokens > 1 and seconds > first_token_s:
        TOKEN_RATE.labels(version).observe((new_tokens - 1) / (seconds - first_token_s))


def watch_scheduler(rows: Callable[[], int], kv_use: Callable[[], float]) -> None:
    """Read the gpu worker's batch at scrape time."""
    ROWS.set_function(rows)
    KV_USE.set_function(kv_use)


def platform_of(task_name: str) -> str:
    """The platform a delivery task delivers to.

    >>> platform_of("replyloop.deliver.slack"), platform_of("replyloop.deliver.wecom.card")
    ('slack', 'wecom')
    """
    parts = task_name.split(".")
    return parts[2] if len(parts) > 2 else task_name


class QueueCollector(Collector):
    """Each queue's depth, and how long its oldest request has waited (its `enqueued_at`,
    which reply requests carry; NaN for a queue whose oldest task has none)."""

    def __init__(self, broker_url: str, queues: Iterable[str]) -> None:
        self._redis = redis.Redis.from_url(broker_url, socket_timeout=2)
        self._queues = tuple(queues)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "replyloop_queue_depth", "Tasks waiting in each queue", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "replyloop_queue_oldest_age_seconds",
            "How long the oldest task in each queue has waited",
            labels=["queue"],
        )
        now = time.time()
        for queue in self._queues:
            try:
                length = int(self._redis.llen(queue))
                oldest = self._redis.lindex(queue, -1) if length else None
            except redis.RedisError as exc:
                log.warning("metrics: cannot read queue %s (%r)", queue, exc)
                continue
            depth.add_metric([queue], length)
            enqueued = _enqueued_at(oldest) if oldest is not None else now
            age.add_metric([queue], max(0.0, now - enqueued) if enqueued else float("nan"))
        yield depth
        yield age


def _enqueued_at(raw: bytes | str) -> float | None:
    """The `enqueued_at` of a kombu message on a Redis list, if its task's argument has one
    (Celery's JSON message: its body, base64, holds [args, kwargs, embed])."""
    try:
        message: dict[str, Any] = json.loads(raw)
        body = json.loads(b64decode(message["body"]))
        argument = body[0][0] if body and body[0] else {}
        value = argument.get("enqueued_at") if isinstance(argument, dict) else None
        return float(value) if value is not None else None
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def serve(port: int, broker_url: str | None = None, queues: Iterable[str] = ()) -> bool:
    """Serve /metrics on `port` (all interfaces), with the queues' depth and age when
    `queues` are given; False (logged) when the port cannot be bound."""
    if queues and broker_url:
        REGISTRY.register(QueueCollector(broker_url, queues))
    try:
        start_http_server(port)
    except OSError as exc:
        log.error("metrics: cannot serve /metrics on port %d (%s); going on without", port, exc)
        return False
    log.info("metrics: /metrics on port %d", port)
    return True
