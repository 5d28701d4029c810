"""The Telegram webhook's HTTP app (bots.telegram.webhook), called as WSGI with plain
environ dicts: the secret token, the health check, bad bodies, other paths; and the URL and
secret checks made before it starts."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from bots.telegram.webhook import check_webhook, webhook_path, wsgi


def call(
    method: str, path: str, body: bytes = b"", secret: str | None = None
) -> tuple[str, bytes, list[dict[str, Any]]]:
    """(status, body, the updates handed on) of one request to a webhook app."""
    delivered: list[dict[str, Any]] = []
    app = wsgi("/telegram/webhook", "right-secret", delivered.append)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "127.0.0.1",
    }
    if secret is not None:
        environ["HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"] = secret
    statuses: list[str] = []
    answer = b"".join(app(environ, lambda status, headers: statuses.append(status)))
    return statuses[0], answer, delivered


UPDATE = {"update_id": 12, "message": {"message_id": 1}}


def test_the_webhook_hands_on_an_update_with_the_right_secret() -> None:
    body = json.dumps(UPDATE).encode()
    assert call("POST", "/telegram/webhook", body, "right-secret") == ("200 OK", b"", [UPDATE])


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "right-secret-and-more"])
def test_the_webhook_refuses_a_wrong_or_missing_secret(secret: str | None) -> None:
    body = json.dumps(UPDATE).encode()
    assert call("POST", "/telegram/webhook", body, secret) == ("403 Forbidden", b"forbidden\n", [])


def test_the_webhook_answers_health_checks_bad_bodies_and_other_paths() -> None:
    assert call("GET", "/healthz")[:2] == ("200 OK", b"ok\n")
    assert call("POST", "/telegram/webhook", b"not json", "right-secret")[0] == "400 Bad Request"
    assert call("POST", "/telegram/webhook", b"[]", "right-secret")[0] == "400 Bad Request"
    assert call("GET", "/telegram/webhook")[0] == "404 Not Found"
    assert call("POST", "/other", b"{}", "right-secret")[0] == "404 Not Found"


def test_webhook_urls_and_secrets_are_checked() -> None:
    assert webhook_path("https://bot.example.com/tg/hook?x=1") == "/tg/hook"
    check_webhook("https://bot.example.com/tg/hook", "A-z_09")
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET must be 1 to 256"):
        check_webhook("https://bot.example.com/tg/hook", "has space")
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET must be 1 to 256"):
        check_webhook("https://bot.example.com/tg/hook", "x" * 257)
    with pytest.raises(ValueError, match="is not a URL"):
        check_webhook("bot.example.com/tg/hook", "secret")
