"""Running the Slack app: Socket Mode (no public URL) or the HTTP Events API.

HTTP: slack-bolt's request handler at `/slack/events` (events, interactivity and slash
commands: slack-bolt's default path), `GET /healthz` for load balancers, served by
waitress (a production WSGI server, pure Python).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bots import http_server
from bots.dedupe import Dedupe
from bots.slack import listeners
from bots.slack.settings import SlackSettings
from bots.slack.web import web_client
from bots.streaming.streamer import Streamer
from core.store import Store

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"

StartResponse = Callable[..., Any]


def app_for(settings: SlackSettings, store: Store, streamer: Streamer | None = None) -> App:
    dedupe = Dedupe(settings.broker_url, settings.dedupe_ttl_s, open_when_away=True)
    return listeners.build(settings, store, dedupe, web_client(settings), streamer)


def wsgi(bolt: App) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The HTTP app: bolt at EVENTS_PATH, a health check, 404 for anything else."""
    handler = SlackRequestHandler(bolt)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == EVENTS_PATH and method == "POST":
            try:
                return handler(environ, start_response)  # type: ignore[no-any-return]
            except Exception as exc:  # noqa: BLE001 - Bolt could not even build the request
                # Bolt reads the payload's team, user and channel before anything else, signature
                # included (slack_bolt.request.internals.build_context): a field of the wrong
                # type raises there. Nothing was handled; what follows a 500 is a retry.
                log.warning("refused a request Bolt cannot parse (%s)", type(exc).__name__)
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [b"malformed\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return application


def serve_http(bolt: App, host: str, port: int, threads: int = 8) -> None:
    log.warning("Slack Events API on http://%s:%d%s", host, port, EVENTS_PATH)
    http_server.serve(wsgi(bolt), host, port, threads)


def serve_socket_mode(bolt: App, app_token: str) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    log.warning("Slack Socket Mode: connecting")
    SocketModeHandler(bolt, app_token).start()
