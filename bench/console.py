"""bench/console: the web console on a store of 1,000,000 votes on 300,000 replies
(PostgreSQL): each page's answer time over repeated loads (p50, p95, max; target p95 <=
200 ms) and each export streamed whole, with the console's memory sampled meanwhile
(target: flat, its growth a small fraction of what it sent).

The store: 300,000 replies over 30 days in 30,000 conversations on four platforms, by
three model versions (the newer liked more), each reply with 3 or 4 raters' votes and
their vote events, loaded with COPY. The console runs as `replyloop serve web` with a
broker set (so it loads no model), as it would beside gpu workers.

Run: .venv/bin/python -m bench.console [--loads 30] [--keep URL-file]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from core.store import open_store
from core.store.rollups import catch_up
from core.types import Vote
from tests import services
from tests.integration.console_harness import console_server
from tests.integration.workers import clean_env

TURNS = 300_000
PER_CONVERSATION = 10
DAYS = 30
PLATFORMS = ("slack", "telegram", "wecom", "web")
BENCH_REDIS_DB = 7  # not 13 (bench/metrics), 15 (bench/loop, pipeline) or the tests'
TARGET_P95_MS = 200.0


def seed(url: str, seed_: int = 0, turns: int = TURNS) -> int:
    """Fill an empty, migrated store; returns the number of votes."""
    rng = random.Random(seed_)
    store = open_store(url)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS - 1)
    raw = store.engine.raw_connection()
    votes = 0
    try:
        cursor = raw.cursor()
        conversations = turns // PER_CONVERSATION
        with cursor.copy(
            "COPY conversations (id, platform, chat_key, created_at) FROM STDIN"
        ) as copy:
            for c in range(1, conversations + 1):
                copy.write_row((c, PLATFORMS[c % 4], f"chat-{c}", _when(start, c, conversations)))
        with cursor.copy(
            "COPY messages (id, conversation_id, author, text, created_at, awaits_reply) FROM STDIN"
        ) as copy:
            for t in range(1, turns + 1):
                c = (t - 1) // PER_CONVERSATION + 1
                at = _when(start, t, turns)
                copy.write_row((t, c, f"U{t % 997}", f"question {t}: what about lunch?", at, False))
        with cursor.copy(
            "COPY turns (id, conversation_id, message_id, request_key, prompt, completion, "
            "model_version, settings, timings, created_at, delivered_at) FROM STDIN"
        ) as copy:
            for t in range(1, turns + 1):
                at = _when(start, t, turns)
                asked = _message_of(t)
                c = (asked - 1) // PER_CONVERSATION + 1
                prompt = json.dumps([{"role": "user", "content": f"question {asked}: lunch?"}])
                copy.write_row((
                    t, c, asked, f"key:{t}", prompt, f"How about soup? (reply {t})",
                    _version(t, turns), "{}", "{}", at, at,
                ))  # fmt: skip
        with (
            cursor.copy("COPY votes (turn_id, rater, value, updated_at) FROM STDIN") as standing,
        ):
            events: list[tuple[int, str, int, datetime]] = []
            for t in range(1, turns + 1):
                at = _when(start, t, turns)
                liked = {"bench-v1": 0.45, "bench-v2": 0.6, "bench-v3": 0.7}[_version(t, turns)]
                for r in range(3 + (t % 3 == 0)):
                    value = 1 if rng.random() < liked else -1
                    standing.write_row((t, f"R{(t + r) % 1999}", value, at))
                    events.append((t, f"R{(t + r) % 1999}", value, at))
                    votes += 1
        with cursor.copy(
            "COPY vote_events (turn_id, rater, value, source, created_at) FROM STDIN"
        ) as copy:
            for t, rater, value, at in events:
                copy.write_row((t, rater, value, "bench", at))
        for table in ("conversations", "messages", "turns"):
            newest = f"(SELECT max(id) FROM {table})"
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {newest})")
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        store.engine.dispose()
    return votes


def _when(start: datetime, i: int, n: int) -> datetime:
    return start + timedelta(seconds=(DAYS - 1) * 86400 * i / n)


def _message_of(turn: int) -> int:
    """Every tenth message was answered twice (a retry): its reply and the next share it,
    and the message after it was only read (pairs have siblings to compare)."""
    return turn - 1 if turn % 10 == 1 and turn > 1 else turn


def _version(turn: int, turns: int) -> str:
    """v1 for the first half of the month, v2 after, v3 a canary on a tenth of the end."""
    if turn < turns // 2:
        return "bench-v1"
    return "bench-v3" if turn > turns * 0.8 and turn % 10 == 0 else "bench-v2"


PAGES = (
    "/",
    "/?days=7",
    "/replies?order=worst",
    "/replies?order=recent",
    "/replies?order=worst&platform=slack&vote=down",
    "/replies?order=recent&model_version=bench-v3&vote=up",
    "/replies/150000",
    "/models",
    "/chat",
    "/export",
)


def timed_pages(client: httpx.Client, loads: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {page: [] for page in PAGES}
    for page in PAGES:  # first loads: caches warm, as for any page someone visits twice
        client.get(page, headers={"Accept": "text/html"}).raise_for_status()
    for _ in range(loads):
        for page in PAGES:
            began = time.perf_counter()
            answer = client.get(page, headers={"Accept": "text/html"})
            times[page].append((time.perf_counter() - began) * 1000)
            answer.raise_for_status()
    return times


def first_look(url: str) -> float:
    """Seconds the console's figures take to build from the facts (core.store.rollups):
    once, at the first page load after an upgrade; here before the timed loads."""
    store = open_store(url)
    began = time.perf_counter()
    catch_up(store.engine)
    store.engine.dispose()
    return time.perf_counter() - began


def after_new_votes(url: str, client: httpx.Client, n: int) -> float:
    """Milliseconds of the overview's next load after `n` votes were cast."""
    store = open_store(url)
    rng = random.Random(1)
    for _ in range(n):
        store.vote(rng.randrange(1, TURNS + 1), f"new-{rng.randrange(50)}", Vote.DOWN, "bench")
    store.engine.dispose()
    began = time.perf_counter()
    client.get("/", headers={"Accept": "text/html"}).raise_for_status()
    return (time.perf_counter() - began) * 1000


def read_directly(url: str, loads: int) -> dict[str, list[float]]:
    """The baseline: the overview's and the worst page's figures read straight from the
    facts, as the console's first version did (one GROUP BY over the votes each)."""
    store = open_store(url)
    since = datetime.now(UTC) - timedelta(days=DAYS)
    day = "to_char(timezone('UTC', {0}), 'YYYY-MM-DD')"
    overview = [
        f"SELECT {day.format('created_at')}, count(*) FROM messages WHERE created_at >= :since "
        "GROUP BY 1",
        f"SELECT {day.format('created_at')}, count(*) FROM vote_events "
        "WHERE created_at >= :since GROUP BY 1",
        f"SELECT t.model_version, {day.format('t.created_at')}, sum((v.value > 0)::int), "
        "sum((v.value < 0)::int) FROM turns t JOIN votes v ON v.turn_id = t.id "
        "WHERE t.created_at >= :since AND v.value != 0 GROUP BY 1, 2",
        "SELECT c.platform, sum((v.value > 0)::int), sum((v.value < 0)::int) FROM turns t "
        "JOIN votes v ON v.turn_id = t.id JOIN conversations c ON c.id = t.conversation_id "
        "WHERE t.created_at >= :since AND v.value != 0 GROUP BY 1",
    ]
    worst = [
        "SELECT turn_id, sum((value > 0)::int) AS up, sum((value < 0)::int) AS down FROM votes "
        "GROUP BY turn_id HAVING sum((value < 0)::int) > 0 "
        "ORDER BY sum((value < 0)::int) - sum((value > 0)::int) DESC, 3 DESC, turn_id DESC "
        "LIMIT 50"
    ]
    times: dict[str, list[float]] = {"/ (read directly)": [], "worst (read directly)": []}
    with store.engine.connect() as conn:
        for _ in range(loads):
            for name, statements in zip(times, (overview, worst), strict=True):
                began = time.perf_counter()
                for statement in statements:
                    conn.execute(text(statement), {"since": since}).all()
                times[name].append((time.perf_counter() - began) * 1000)
    store.engine.dispose()
    return times


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def streamed(client: httpx.Client, fmt: str, pid: int) -> dict[str, float]:
    """One export read whole; the console's RSS sampled every 0.1 s meanwhile."""
    before = rss_mib(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak.append(rss_mib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    size = rows = 0
    first_byte = None
    with client.stream("GET", f"/export/download?fmt={fmt}", timeout=3600) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            if first_byte is None:
                first_byte = time.perf_counter() - began
            size += len(chunk)
            rows += chunk.count(b"\n")
    seconds = time.perf_counter() - began
    done.set()
    sampler.join()
    return {
        "rows": rows,
        "mib": size / 2**20,
        "seconds": seconds,
        "first_byte_s": first_byte or seconds,
        "rss_before": before,
        "rss_peak": max(peak),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--loads", type=int, default=30, help="timed loads of each page")
    parser.add_argument(
        "--database", help="a store seeded by an earlier run (default: a new one, dropped after)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the store made here, and say its URL"
    )
    args = parser.parse_args()
    admin = services.connect_pg_admin()
    url = args.database
    made = url is None
    if url is None:
        url = services.create_database(admin)
        began = time.perf_counter()
        votes = seed(url)
        print(
            f"seeded {votes:,} votes on {TURNS:,} replies in {time.perf_counter() - began:.0f} s",
            file=sys.stderr,
        )
    rebuild_s = first_look(url)
    baseline = read_directly(url, max(3, args.loads // 4))
    home = Path(tempfile.mkdtemp(prefix="replyloop-bench-console-"))
    broker = services.redis_url().rsplit("/", 1)[0] + f"/{BENCH_REDIS_DB}"
    env = clean_env(database_url=url, broker_url=broker, data_dir=str(home / "data"))
    try:
        with console_server(env, home) as console:
            console.user("bench", "admin", "bench-pass-1")
            pid = _pid(console.url)
            with httpx.Client(base_url=console.url, timeout=60) as client:
                client.post("/login", data={"name": "bench", "password": "bench-pass-1"})
                times = timed_pages(client, args.loads)
                caught = after_new_votes(url, client, 1000)
                exports = {fmt: streamed(client, fmt, pid) for fmt in ("raw", "kto", "pairs")}
    finally:
        if made and not args.keep:
            services.drop_database(admin, url)
        elif made:
            print(f"kept the store: --database {url}", file=sys.stderr)
    report({**times, **baseline}, exports, args.loads)
    ratios = (
        _p95(baseline["/ (read directly)"]) / _p95(times["/"]),
        _p95(baseline["worst (read directly)"]) / _p95(times["/replies?order=worst"]),
    )
    print(
        f"  read directly / the console's page, p95: overview {ratios[0]:.0f}x, "
        f"worst {ratios[1]:.0f}x (the direct reads alone, without rendering a page)"
    )
    print(f"  the first look at the store (figures built from the facts): {rebuild_s:.1f} s")
    print(f"  the overview after 1,000 new votes (caught up first): {caught:.0f} ms")
    return 0 if all(_p95(t) <= TARGET_P95_MS for t in times.values()) else 1


def _pid(url: str) -> int:
    port = url.rsplit(":", 1)[1]
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = status.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in line and b"web" in line and port.encode() in line:
            return int(status.parent.name)
    raise RuntimeError("the console's process was not found")


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def report(times: dict[str, list[float]], exports: dict[str, dict[str, float]], loads: int) -> None:
    print(f"bench/console: {loads} loads a page, 1,000,000 votes on 300,000 replies (PostgreSQL)")
    print(f"  {'page':52} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}  p95/target")
    for page, values in times.items():
        p95 = _p95(values)
        print(
            f"  {page:52} {statistics.median(values):7.1f} {p95:7.1f} {max(values):7.1f}"
            f"  {p95 / TARGET_P95_MS:.2f}"
        )
    heads = ("rows", "MiB", "s", "1st byte s", "RSS before", "peak")
    widths = (9, 7, 6, 10, 10, 7)
    print(f"  {'export':8} " + " ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True))
          + "  growth/sent")  # fmt: skip
    for fmt, e in exports.items():
        growth = e["rss_peak"] - e["rss_before"]
        print(
            f"  {fmt:8} {int(e['rows']):9,} {e['mib']:7.1f} {e['seconds']:6.1f} "
            f"{e['first_byte_s']:10.2f} {e['rss_before']:10.1f} {e['rss_peak']:7.1f}  "
            f"{growth / max(e['mib'], 1e-9):.3f}"
        )


if __name__ == "__main__":
    sys.exit(main())
