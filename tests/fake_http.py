"""Serving a fake platform API's request handler on 127.0.0.1 for the length of a test."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    """One request a fake API got."""

    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when it arrived


@dataclass
class Failure:
    """An error a fake API answers a method with, the next `times` calls."""

    status: int
    retry_after: int | None
    times: int
    error: str = ""  # the platform's error name, where it has one (Slack's "ratelimited")


class JsonHandler(BaseHTTPRequestHandler):
    """A fake API's handler: answers JSON, logs nothing."""

    def reply_json(self, body: Any, status: int = 200, headers: Mapping[str, str] = {}) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """The port `handler` answers on, in a thread of its own, while in use."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
