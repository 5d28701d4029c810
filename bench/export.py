"""bench/export: `replyloop feedback export` of 10,000 and 100,000 stored votes.

Seconds and peak memory of the export process, per format, on PostgreSQL and SQLite; the
last column is peak memory at 100,000 votes over peak at 10,000 (flat memory: about 1).
Target: under 20 s for 100,000 votes, memory flat in the number of rows.
Run: .venv/bin/python bench/export.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seed import seed_votes  # noqa: E402
from core.store import open_store  # noqa: E402
from tests.services import connect_pg_admin, create_database, drop_database  # noqa: E402

SIZES = (10_000, 100_000)
FORMATS = ("raw", "kto", "pairs")


def run_export(url: str, fmt: str, out: Path, data_dir: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS in MiB, rows) of one export, in its own process."""
    env = {
        **os.environ,
        "REPLYLOOP_DATABASE_URL": url,
        "REPLYLOOP_DATA_DIR": str(data_dir),
        "REPLYLOOP_RATER_SECRET": "bench",
    }
    env.pop("REPLYLOOP_BROKER_URL", None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "replyloop.cli",
            "feedback",
            "export",
            "--format",
            fmt,
            "--out",
            str(out),
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, f"export {fmt} failed"
    with out.open() as handle:
        rows = sum(1 for _ in handle)
    return seconds, usage.ru_maxrss / 1024, rows


def main() -> None:
    admin = connect_pg_admin()
    work = Path(tempfile.mkdtemp(prefix="replyloop-bench-export-"))
    results: dict[tuple[str, str, int], tuple[float, float, int]] = {}
    urls: list[str] = []
    try:
        for size in SIZES:
            pg = create_database(admin)
            urls.append(pg)
            sqlite = f"sqlite:///{work / f'votes-{size}.sqlite3'}"
            for name, url in (("postgresql", pg), ("sqlite", sqlite)):
                store = open_store(url)
                t0 = time.perf_counter()
                seed_votes(store.engine, size)
                store.engine.dispose()
                print(
                    f"seeded {size:,} votes into {name} in {time.perf_counter() - t0:.1f} s",
                    file=sys.stderr,
                )
                for fmt in FORMATS:
                    out = work / f"{name}-{size}.{fmt}.jsonl"
                    results[(name, fmt, size)] = run_export(url, fmt, out, work)
    finally:
        for url in urls:
            drop_database(admin, url)
    small, large = SIZES
    print(
        f"\n{'store':11} {'format':6} {'rows':>8} {'s @10k':>8} {'s @100k':>8} "
        f"{'MiB @10k':>9} {'MiB @100k':>10} {'mem ratio':>9}"
    )
    for name in ("postgresql", "sqlite"):
        for fmt in FORMATS:
            s_small, m_small, _ = results[(name, fmt, small)]
            s_large, m_large, rows = results[(name, fmt, large)]
            print(
                f"{name:11} {fmt:6} {rows:8,} {s_small:8.2f} {s_large:8.2f} "
                f"{m_small:9.0f} {m_large:10.0f} {m_large / m_small:9.2f}"
            )
    print("\ntarget: 100,000 votes in under 20 s; mem ratio about 1 (flat in rows)")


if __name__ == "__main__":
    main()
