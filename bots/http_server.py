"""The HTTP server every webhook adapter runs on (Slack's Events API, Telegram's webhook,
WeCom's callbacks): waitress, a production WSGI server in pure Python, with a body limit.

Waitress accepts a body of up to 1 GiB by default and reads it (to a temporary file) before
the app sees the request: a 100 MB body, signed or not, was read in full before its 401.
With `max_request_body_size` it answers 413 to a larger Content-Length as soon as the
headers are in, and stops a chunked body at the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# An event, an update or a callback is a few KB; Telegram's largest are well under this.
MAX_BODY = 1 << 20

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serve(app: WsgiApp, host: str, port: int, threads: int = 8) -> None:
    """Serve `app` on host:port until interrupted."""
    import waitress

    # waitress refuses a body of max_request_body_size bytes or more: MAX_BODY itself passes.
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="replyloop",
        max_request_body_size=MAX_BODY + 1,
    )
