"""A sendMessage that must not be made twice (bots.telegram.once) tells its mark only once
the server holds all of its request but the last byte, so a worker killed before the mark
reached Redis left Telegram nothing it could act on.

A raw TCP server on 127.0.0.1 stands in for Telegram: it counts the bytes it reads, and
answers once the request is whole (Content-Length)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from bots.refusals import Transient
from bots.telegram.api import BotApi

ANSWER = b'{"ok":true,"result":{"message_id":7}}'


class CountingServer:
    """One connection at a time; `received` is how many bytes of the request body came."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = 0
        self.length: int | None = None
        self.answered = 0
        self.changed = threading.Condition()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        length = int(
            next(x.split(":", 1)[1] for x in lines if x.lower().startswith("content-length"))
        )
        self._got(len(body), length)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:  # cut off before the last byte: nothing to act on
                return
            body += chunk
            self._got(len(body), length)
        json.loads(body)
        with self.changed:
            self.answered += 1
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(ANSWER)).encode()
            + b"\r\n\r\n"
            + ANSWER
        )

    def _got(self, received: int, length: int) -> None:
        with self.changed:
            self.received, self.length = received, length
            self.changed.notify_all()

    def wait_all_but_one(self) -> bool:
        """Until the server holds all of the body but its last byte (or more)."""
        with self.changed:
            return self.changed.wait_for(
                lambda: self.length is not None and self.received >= self.length - 1, timeout=10
            )


@contextmanager
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        server.listener.close()
        thread.join(5)


class SeenAtMark:
    """A mark that, when told, looks at what the server holds; `refuse` plays another run
    of the task holding the claim."""

    def __init__(self, server: CountingServer, refuse: bool = False) -> None:
        self.server = server
        self.refuse = refuse
        self.seen: tuple[int, int | None, int] | None = None
        self.dropped = False

    def sending(self) -> None:
        assert self.server.wait_all_but_one()
        self.seen = (self.server.received, self.server.length, self.server.answered)
        if self.refuse:
            raise Transient("being sent by another run")

    def not_sent(self) -> None:
        self.dropped = True


PARAMS = {"chat_id": 42, "text": "héllo " * 200}


def test_the_mark_is_told_with_all_but_the_last_byte_at_the_server() -> None:
    with counting_server() as server, httpx.Client(timeout=10) as http:
        api = BotApi("1:A", f"http://127.0.0.1:{server.port}/bot", http)
        mark = SeenAtMark(server)
        assert api.call("sendMessage", PARAMS, mark) == {"message_id": 7}
        assert mark.seen is not None
        received, length, answered = mark.seen
        assert length is not None and received == length - 1 and answered == 0
        assert server.answered == 1 and not mark.dropped


def test_a_refused_mark_leaves_the_server_a_request_it_cannot_act_on() -> None:
    with counting_server() as server, httpx.Client(timeout=10) as http:
        api = BotApi("1:A", f"http://127.0.0.1:{server.port}/bot", http)
        mark = SeenAtMark(server, refuse=True)
        with pytest.raises(Transient):
            api.call("sendMessage", PARAMS, mark)
        assert server.length is not None and server.received == server.length - 1
        assert server.answered == 0
