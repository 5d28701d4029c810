"""The console as people use it: a real `replyloop serve web` process, and a real
headless Chromium (Debian's `chromium` package, driven by Playwright for Python through
its `executable_path`: no browser is ever downloaded)."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.scrape import free_port
from tests.integration.workers import replyloop_command

CHROMIUM = os.environ.get("REPLYLOOP_TEST_CHROMIUM", "/usr/bin/chromium")
# As the machine's own check runs it: without the background-networking flags Chromium
# tries Google's hosts at every start, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_S = 120.0  # the embedded console loads its model before it listens


@dataclass
class Console:
    url: str
    env: dict[str, str]
    home: Path
    log: Path

    def user(self, name: str, role: str, password: str) -> None:
        """`replyloop user add`, as an admin makes a user."""
        made = subprocess.run(
            [*replyloop_command(), "user", "add", name, "--role", role, "--password-stdin"],
            env=self.env,
            cwd=self.home,
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert made.returncode == 0, made.stderr

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def console_server(env: Mapping[str, str], home: Path) -> Iterator[Console]:
    """`replyloop serve web` on a free port of 127.0.0.1, until the block ends."""
    port = free_port()
    log = home / "console.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*replyloop_command(), "serve", "web", "--host", "127.0.0.1", "--port", str(port)],
            env=dict(env),
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield Console(url, dict(env), home, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the console ended ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"the console did not answer /healthz within {START_S:.0f} s:\n{log.read_text()}")


def chromium_path() -> str:
    """Debian's chromium, or a failed test saying how to get it (never a skip)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `apt-get install chromium` (scripts/test.sh does, as "
            "root), or set REPLYLOOP_TEST_CHROMIUM",
            pytrace=False,
        )
    return CHROMIUM
