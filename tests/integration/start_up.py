"""What a `replyloop serve` that refuses to start may print: its one line, exit 2, no
traceback, and before it nothing but the INFO records of start-up (the store opened)."""

from __future__ import annotations

import re
import subprocess

# A log record as bootstrap formats it: "2026-12-04 02:04:17,834 INFO name message".
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+) ")


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    """The line a refused start says, after checking it said nothing else."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    *before, last = done.stderr.strip().splitlines()
    levels = [LOG_RECORD.match(line) for line in before]
    assert all(m and m.group(1) == "INFO" for m in levels), done.stderr
    assert last.startswith("replyloop: "), done.stderr
    return last
