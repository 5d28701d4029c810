"""The smart bot's callbacks at `/wecom/bot`: group @mentions and single chats, answered by
stream, rated with WeCom's own 👍/👎.

Every callback's signature is checked first (403 when bad). A message is answered at once
with the first frame of a stream (its id, and the same id as the feedback id that WeCom's
👍/👎 will name), stored, and its reply asked for `live`: the gpu worker writes the text so
far to Redis (wire.live) while it generates, and WeCom's stream-refresh polls are
answered with it until the delivery task marks it done. A retried message (same msgid)
gets the stream it started, so one reply. A reply still not done when WeCom is about to
stop polling (REPLYLOOP_WECOM_STREAM_LIMIT_S) ends its stream with a note and is sent on
its own through the message's response_url once done.

A `feedback_event` is a vote (like), a vote with its reasons (dislike: WeCom's reason codes
and the person's words, stored and exported with the vote), or a retraction (cancel).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from wechatpy.exceptions import InvalidSignatureException

from bots.dedupe import Dedupe
from bots.intake import request_reply, store_message
from bots.limits import SLOW_DOWN, Limits
from bots.votes import take_platform_vote
from bots.wecom.bot_crypto import BotCrypto
from bots.wecom.bot_translate import (
    BotMessage,
    bot_message,
    feedback_vote,
    people_named,
    said_by,
    stream_frame,
)
from bots.wecom.responses import MAX_AGE_S, JsonBody, Response, stale
from bots.wecom.settings import WeComSettings
from bots.wecom.translate import PLATFORM, rater
from core.errors import EmptyMessage
from core.settings import id_set
from core.store import Store
from core.store.people import NameRecorder
from core.text import check_text
from core.types import IncomingMessage
from wire.live import LiveText
from wire.messages import PlatformVote

log = logging.getLogger(__name__)

BOT_PATH = "/wecom/bot"
TEXT_ONLY = "我只能读文字。I can only read text, not images or files."
MEDIA_SKIPPED = "（我只读了文字部分。I read the words only.）"
USAGE = "@我并说点什么，我会回答。Mention me with a question and I'll answer."
UNAVAILABLE = "暂时无法接收消息，请稍后再发。I can't take messages now; please resend shortly."
LATER = "（回复较长，完成后单独发送。This one takes longer: it follows as a message.）"
WELCOME = (
    "你好，我是 replyloop。直接提问即可，回复下方可以点 👍/👎 评价。"
    "Hi, I'm replyloop: ask away, and rate my replies with 👍/👎."
)


class BotCallback:
    def __init__(
        self, settings: WeComSettings, store: Store, dedupe: Dedupe, live: LiveText
    ) -> None:
        if settings.wecom_bot_token is None or settings.wecom_bot_aes_key is None:
            raise ValueError("set WECOM_BOT_TOKEN and WECOM_BOT_AES_KEY (the smart bot's settings)")
        self.settings, self.store, self.dedupe, self.live = settings, store, dedupe, live
        self.crypto = BotCrypto(
            settings.wecom_bot_token.get_secret_value(),
            settings.wecom_bot_aes_key.get_secret_value(),
        )
        self.users = id_set(settings.wecom_users)
        self.names = NameRecorder(store, PLATFORM)
        self.limits = Limits.of(settings)
        # Fresher than the duplicate check's memory: a replay is refused, not deduped.
        self.max_age_s = min(MAX_AGE_S, settings.dedupe_ttl_s)

    def verify_url(self, query: dict[str, str]) -> Response:
        try:
            echo = self.crypto.open(*_signed(query), query.get("echostr", ""))
        except InvalidSignatureException:
            log.warning("refused a WeCom smart-bot URL check: bad signature")
            return "403 Forbidden", b"bad signature\n"
        except Exception as exc:  # noqa: BLE001 - not base64, not ours
            log.warning("refused a malformed WeCom smart-bot URL check (%s)", type(exc).__name__)
            return "400 Bad Request", b"malformed\n"
        refused = stale(query.get("timestamp", ""), self.max_age_s, "smart-bot URL check")
        return refused or ("200 OK", echo.encode())

    def receive(self, query: dict[str, str], body: bytes) -> Response:
        try:
            fields = self.crypto.open_json(*_signed(query), body)
        except InvalidSignatureException:
            log.warning("refused a WeCom smart-bot callback: bad signature")
            return "403 Forbidden", b"bad signature\n"
        except Exception as exc:  # noqa: BLE001 - not JSON, no encrypt field, bad ciphertext
            log.warning("refused a malformed WeCom smart-bot callback (%s)", type(exc).__name__)
            return "400 Bad Request", b"malformed\n"
        refused = stale(query.get("timestamp", ""), self.max_age_s, "smart-bot callback")
        if refused is not None:
            return refused
        reply = self.handle(bot_message(fields))
        if reply is None:
            return "200 OK", b""
        return "200 OK", JsonBody(self.crypto.seal(reply, query.get("nonce", "")))

    def handle(self, said: BotMessage) -> dict[str, Any] | None:
        """The passive reply to a callback (None: an empty one)."""
        if said.kind == "stream":
            return self.poll(said.stream_id)
        if self.users and said.user not in self.users:
            log.info("WeCom user %s is not in REPLYLOOP_WECOM_USERS: ignored", said.user)
            return None
        if said.kind == "event":
            return self.on_event(said)
        stream_id, first = self.dedupe.claim(
            f"wecom:bot:{said.bot_id}:{said.msg_id}", uuid.uuid4().hex
        )
        if not first:
            log.info("WeCom smart-bot message %s seen already (a retry)", said.msg_id)
            return self.poll(stream_id)
        return self.start(said, stream_id)

    def start(self, said: BotMessage, stream_id: str) -> dict[str, Any]:
        """Take a new message: store it, ask for its reply live, answer the first frame."""
        try:
            checked = check_text(said.text, self.settings.max_message_chars)
        except EmptyMessage:
            return stream_frame(stream_id, TEXT_ONLY if said.has_media else USAGE, True)
        notes = [n for n in (checked.notice, MEDIA_SKIPPED if said.has_media else None) if n]
        text = said_by(said, checked.text)
        message = IncomingMessage(PLATFORM, said.chat_key, said.user, text, None, said.msg_id)
        self.names.remember(people_named(said))  # before the text that carries them
        # Over a limit (bots.limits): kept unanswered, and the stream, which is how the
        # smart bot says anything, says so once a window (else it ends empty).
        verdict = self.limits.check(PLATFORM, said.chat_key, said.user)
        try:
            message_id = store_message(self.store, message, verdict.over is None)
        except SQLAlchemyError as exc:
            log.error("database unavailable (%s): smart-bot message refused", type(exc).__name__)
            return stream_frame(stream_id, UNAVAILABLE, True)
        if verdict.over is not None:
            told = SLOW_DOWN[verdict.over] if verdict.told else ""
            return stream_frame(stream_id, told, True)
        notice = "\n".join(notes)
        self.live.open(
            message_id,
            stream=stream_id,
            started=time.time(),
            notice=notice,
            response_url=said.response_url,
        )
        self.dedupe.claim(f"wecom:bot:stream:{stream_id}", str(message_id))
        request_reply(message_id, live=True)
        return stream_frame(stream_id, notice, False, feedback_id=stream_id)

    def poll(self, stream_id: str) -> dict[str, Any]:
        """WeCom asks for a stream's text so far."""
        message_id = self.dedupe.held(f"wecom:bot:stream:{stream_id}")
        shown = self.live.read(int(message_id)) if message_id else {}
        if not shown:
            log.info("WeCom polled stream %s, unknown or expired: ended", stream_id)
            return stream_frame(stream_id, "", True)
        if shown.get("done"):
            return stream_frame(stream_id, _text(shown), True)
        started = float(shown.get("started") or 0)
        if time.time() - started < self.settings.wecom_stream_limit_s:
            return stream_frame(stream_id, _text(shown), False)
        assert message_id is not None
        self.live.mark(int(message_id), "handed_off")
        shown = self.live.read(int(message_id))  # done meanwhile? then it is all here
        ending = _text(shown) if shown.get("done") else f"{_text(shown)}\n\n{LATER}".strip()
        return stream_frame(stream_id, ending, True)

    def on_event(self, said: BotMessage) -> dict[str, Any] | None:
        if not self.dedupe.first(f"wecom:bot:{said.bot_id}:{said.msg_id}"):
            return None
        if said.event == "enter_chat":
            return {"msgtype": "text", "text": {"content": WELCOME}}
        if said.event == "feedback_event":
            self.on_feedback(said)
        return None

    def on_feedback(self, said: BotMessage) -> None:
        judged = feedback_vote(said.feedback)
        feedback_id = str(said.feedback.get("id") or "")
        if judged is None or not feedback_id:
            log.info("WeCom feedback event with no vote in it: %r", said.feedback.get("type"))
            return
        vote, reasons = judged
        take_platform_vote(
            self.store,
            PlatformVote(
                platform=PLATFORM,
                posted_as=feedback_id,
                rater=rater(self.settings.wecom_corp_id or said.bot_id, said.user),
                value=int(vote),
                source="wecom_feedback",
                at=said.created_at or time.time(),
                # 👍/👎 show under a reply still streaming: kept until it is stored
                reasons=reasons,
            ),
        )


def _signed(query: dict[str, str]) -> tuple[str, str, str]:
    return query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", "")


def _text(shown: dict[str, Any]) -> str:
    """What a stream shows: a notice (a cut message), then the reply so far."""
    return "\n\n".join(p for p in (shown.get("notice"), shown.get("text")) if p)
