"""What a WeCom callback answers: `Response`, a status line and a body, and `JsonBody`, a
body that is JSON (the smart bot's sealed replies) rather than text.

A module of its own so that the smart bot's callback (bots.wecom.bot_callback) and the app's
callback with the WSGI shell that routes to both (bots.wecom.callback) share these without
importing each other.
"""

from __future__ import annotations


class JsonBody(bytes):
    """A response body that is JSON (the smart bot's sealed replies)."""


Response = tuple[str, bytes]  # (status line, body): text, or JSON when a `JsonBody`
