"""A fake Slack Socket Mode endpoint on 127.0.0.1: a small WebSocket server (RFC 6455, text
frames, ping/pong, close) that slack_sdk's built-in Socket Mode client connects to, at the
URL the fake Web API's `apps.connections.open` hands out (tests/fake_slack.py).

It greets each connection with `hello`, as Slack does; a test sends envelopes (events,
slash commands, interactivity) to the connected client with `send` and reads what the
client sent back (acknowledgements by envelope id, with any response payload) with `acks`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes) -> bytes:
    """A server frame: final, unmasked."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


def _exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """(opcode, payload) of one client frame (clients mask theirs)."""
    first, second = _exactly(sock, 2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", _exactly(sock, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _exactly(sock, 8))[0]
    mask = _exactly(sock, 4) if second & 0x80 else b"\0\0\0\0"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_exactly(sock, size)))
    return first & 0x0F, payload


class SocketModeServer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link"
        self._client: socket.socket | None = None
        self._lock = threading.Lock()
        self._received: list[dict[str, Any]] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = sock.recv(4096)
            if not chunk:
                return
            request += chunk
        headers = dict(
            line.split(": ", 1) for line in request.decode().split("\r\n")[1:] if ": " in line
        )
        key = {k.lower(): v for k, v in headers.items()}["sec-websocket-key"].strip()
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}
        with self._lock:
            self._client = sock
            self.connections += 1
            sock.sendall(frame(TEXT, json.dumps(hello).encode()))
        try:
            while True:
                opcode, payload = read_frame(sock)
                if opcode == PING:
                    with self._lock:
                        sock.sendall(frame(PONG, payload))
                elif opcode == TEXT:
                    with self._lock:
                        self._received.append(json.loads(payload))
                elif opcode == CLOSE:
                    with self._lock:
                        sock.sendall(frame(CLOSE, payload[:2]))
                    return
        except (ConnectionError, OSError):
            return
        finally:
            with self._lock:
                if self._client is sock:
                    self._client = None
            sock.close()

    def connected(self) -> bool:
        with self._lock:
            return self._client is not None

    def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Hand the connected client an envelope of `kind` ("events_api",
        "slash_commands", "interactive"); its envelope id."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self._lock:
            if self._client is None:
                raise ConnectionError("no Socket Mode client is connected")
            self._client.sendall(frame(TEXT, json.dumps(envelope).encode()))
        return envelope_id

    def ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """What the client sent back for an envelope (it must within 3 seconds to Slack)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for message in self._received:
                    if message.get("envelope_id") == envelope_id:
                        return message
            time.sleep(0.02)
        raise AssertionError(f"no acknowledgement of envelope {envelope_id}")

    def close(self) -> None:
        with suppress(OSError):
            self._listener.close()
        with self._lock:
            if self._client is not None:
                with suppress(OSError):
                    self._client.close()


@contextmanager
def socket_mode_server() -> Iterator[SocketModeServer]:
    server = SocketModeServer()
    try:
        yield server
    finally:
        server.close()
