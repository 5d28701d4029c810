"""WeCom's callbacks: the self-built app at `/wecom/app`, `GET /healthz` for load balancers.

WeCom signs and encrypts every callback (the app's Token and EncodingAESKey, wechatpy's
`WeChatCrypto`): the signature is checked before anything else, and a bad one gets 403,
logged without the payload. The corp id inside the encrypted payload must be ours. WeCom
gives a callback 5 seconds and retries it three times, so the answer is at once (an empty
body): the message is deduped on its MsgId in Redis, shared by every replica, then stored
and its reply queued; the reply is sent from the io queue (bots.wecom.delivery). A press
on a reply's rating card (`template_card_event`) is queued for the io queue too
(bots.wecom.feedback).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import parse_qs

from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.parser import xmltodict

from bots import http_server
from bots.dedupe import Dedupe
from bots.http_server import MAX_BODY
from bots.intake import accept
from bots.limits import Limits
from bots.wecom.bot_callback import BOT_PATH, BotCallback
from bots.wecom.card_messages import CardPress
from bots.wecom.cards import card_action
from bots.wecom.feedback import take_press
from bots.wecom.responses import MAX_AGE_S, JsonBody, Response, stale
from bots.wecom.settings import WeComSettings
from bots.wecom.translate import PLATFORM, AppMessage, app_message
from core.errors import EmptyMessage
from core.settings import id_set
from core.store import Store
from core.text import check_text
from core.types import IncomingMessage
from wire.live import LiveText
from wire.messages import Notice, send_notice

log = logging.getLogger(__name__)

APP_PATH, HEALTH_PATH = "/wecom/app", "/healthz"
CARD_EVENT = "template_card_event"
TEXT_ONLY = "我只能读文字消息。I can only read text, not images, voice or files."

StartResponse = Callable[..., Any]


class AppCallback:
    """The self-built app's callback: the URL check (GET) and messages (POST)."""

    def __init__(self, settings: WeComSettings, store: Store, dedupe: Dedupe) -> None:
        if settings.wecom_token is None or settings.wecom_aes_key is None:
            raise ValueError("set WECOM_TOKEN and WECOM_AES_KEY (the app's callback settings)")
        self.settings, self.store, self.dedupe = settings, store, dedupe
        self.crypto = WeChatCrypto(
            settings.wecom_token.get_secret_value(),
            settings.wecom_aes_key.get_secret_value(),
            settings.wecom_corp_id,
        )
        self.users = id_set(settings.wecom_users)
        self.limits = Limits.of(settings)
        # Fresher than the duplicate check's memory: a replay is refused, not deduped.
        self.max_age_s = min(MAX_AGE_S, settings.dedupe_ttl_s)

    def verify_url(self, query: dict[str, str]) -> Response:
        """WeCom's check of the callback URL: echo the decrypted echostr."""
        try:
            echo = self.crypto.check_signature(
                query.get("msg_signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
                query.get("echostr", ""),
            )
        except (InvalidSignatureException, InvalidCorpIdException, ValueError, KeyError):
            log.warning("refused a WeCom URL check: bad signature")
            return "403 Forbidden", b"bad signature\n"
        refused = stale(query.get("timestamp", ""), self.max_age_s, "URL check")
        return refused or ("200 OK", _bytes(echo))

    def receive(self, query: dict[str, str], body: bytes) -> Response:
        try:
            xml = self.crypto.decrypt_message(
                body,
                query.get("msg_signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
            )
            fields = xmltodict.parse(xml).get("xml") or {}
        except InvalidCorpIdException:
            log.warning("refused a WeCom callback: not for corp %s", self.settings.wecom_corp_id)
            return "403 Forbidden", b"unknown corp\n"
        except InvalidSignatureException:
            log.warning("refused a WeCom callback: bad signature")
            return "403 Forbidden", b"bad signature\n"
        except Exception as exc:  # noqa: BLE001 - malformed XML, base64 or ciphertext
            log.warning("refused a malformed WeCom callback (%s)", type(exc).__name__)
            return "400 Bad Request", b"malformed\n"
        refused = stale(query.get("timestamp", ""), self.max_age_s, "callback")
        if refused is not None:
            return refused
        self.handle(app_message(fields))
        return "200 OK", b""

    def handle(self, said: AppMessage) -> None:
        agent = self.settings.wecom_agent_id
        if agent is not None and said.agent_id != str(agent):
            log.info("WeCom callback for agent %s, not ours (%s): ignored", said.agent_id, agent)
            return
        if not said.user or (said.kind == "event" and said.event != CARD_EVENT):
            return  # entering the app, a menu, a location report: nothing to answer
        if self.users and said.user not in self.users:
            log.info("WeCom user %s is not in REPLYLOOP_WECOM_USERS: ignored", said.user)
            return
        if not self.dedupe.first(f"wecom:app:{said.corp_id}:{said.msg_id}"):
            log.info("WeCom message %s seen already (a retry)", said.msg_id)
            return
        if said.kind == "event":
            self._press(said)
            return
        if said.kind != "text":
            self._tell(said, TEXT_ONLY)
            return
        try:
            checked = check_text(said.text, self.settings.max_message_chars)
        except EmptyMessage:
            return
        if checked.notice:
            self._tell(said, checked.notice)
        message = IncomingMessage(PLATFORM, said.chat_key, said.user, checked.text)
        accept(self.store, message, limits=self.limits)

    def _press(self, said: AppMessage) -> None:
        """A rating card's button: the vote stored now, the card updated by the io queue
        (bots.wecom.feedback)."""
        pressed = card_action(said.event_key)
        if pressed is None:
            log.info("WeCom card event with a key not ours (%r): ignored", said.event_key)
            return
        action, turn_id = pressed
        press = CardPress(said.chat_key, turn_id, action, said.response_code, said.created_at)
        take_press(self.store, press)

    def _tell(self, said: AppMessage, text: str) -> None:
        send_notice(PLATFORM, Notice(said.chat_key, 0, text))


class Callback(Protocol):
    """What serves one callback path: the URL check and the callbacks."""

    def verify_url(self, query: dict[str, str]) -> Response: ...

    def receive(self, query: dict[str, str], body: bytes) -> Response: ...


def wsgi(routes: dict[str, Callback]) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app: `routes` maps a path (APP_PATH, BOT_PATH) to its callback."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        status, body = "404 Not Found", b"not found\n"
        served = routes.get(path)
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            status, body = "200 OK", b"ok\n"
        elif served is not None and method == "GET":
            status, body = served.verify_url(query)
        elif served is not None and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_BODY:
                status, body = "413 Payload Too Large", b"too large\n"
            else:
                status, body = served.receive(query, environ["wsgi.input"].read(length))
        kind = "application/json" if isinstance(body, JsonBody) else "text/plain; charset=utf-8"
        start_response(status, [("Content-Type", kind)])
        return [body]

    return application


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def routes(settings: WeComSettings, store: Store) -> dict[str, Callback]:
    """The callbacks whose settings are there: the app's (WECOM_TOKEN, WECOM_AES_KEY), the
    smart bot's (WECOM_BOT_TOKEN, WECOM_BOT_AES_KEY), or both."""
    dedupe = Dedupe(settings.broker_url, settings.dedupe_ttl_s, open_when_away=True)
    served: dict[str, Callback] = {}
    if settings.wecom_token is not None and settings.wecom_aes_key is not None:
        served[APP_PATH] = AppCallback(settings, store, dedupe)
    if settings.wecom_bot_token is not None and settings.wecom_bot_aes_key is not None:
        if not settings.broker_url:
            raise ValueError(
                "the smart bot streams replies through Redis: set REPLYLOOP_BROKER_URL"
            )
        served[BOT_PATH] = BotCallback(settings, store, dedupe, LiveText(settings.broker_url))
    return served


def serve_http(
    settings: WeComSettings, store: Store, host: str, port: int, threads: int = 8
) -> None:
    served = routes(settings, store)
    for path in served:
        log.warning("WeCom callbacks on http://%s:%d%s", host, port, path)
    http_server.serve(wsgi(served), host, port, threads)
