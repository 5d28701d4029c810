"""Telegram's side of streamed replies (bots.streaming): the text so far is sent where the
reply goes (in a group, as a reply to the message it answers), plain text with the "still
writing" mark, then edited with editMessageText at most every
REPLYLOOP_TELEGRAM_STREAM_EVERY_S in a private chat and REPLYLOOP_TELEGRAM_STREAM_GROUP_EVERY_S
in a group (Telegram's flood control: about one message a second in a chat, 20 a minute
in a group). The final delivery (bots.telegram.delivery) edits it into the reply's first
part, with the keyboard when it is the only one.

The streamer's calls are tried once (BotApi.once): flood control's retry_after is handed to
the streamer, which holds that reply's edits off and never waits; a call gives up after
TIMEOUT_S, well inside the reply's lock (wire.live.LOCK_S).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bots.streaming.pacing import preview
from bots.streaming.streamer import RateLimited, Refused, Streamer
from bots.telegram.api import BotApi, BotApiError, client, unchanged
from bots.telegram.delivery import reply_target
from bots.telegram.settings import TelegramSettings
from bots.telegram.split import TEXT_LIMIT, units
from bots.telegram.translate import is_private, message_of, posted_as, send_params, where
from wire.live import LiveText

TIMEOUT_S = 5.0
DEFAULT_RETRY_AFTER_S = 1.0  # a 429 without retry_after


class TelegramStream:
    def __init__(self, api: BotApi, every_s: float, group_every_s: float) -> None:
        self.api = api
        self._every_s, self._group_every_s = every_s, group_every_s

    def every_s(self, chat_key: str) -> float:
        chat_id, _topic = where(chat_key)
        return self._every_s if is_private(chat_id) else self._group_every_s

    def preview(self, text: str) -> str:
        return preview(text, TEXT_LIMIT, units)

    def post(self, message_id: int, chat_key: str, answered: str | None, text: str) -> str:
        """`message_id` is not needed: the final delivery finds the streamed message only
        through the live hash (Telegram cannot list a chat's messages)."""
        chat_id, _topic = where(chat_key)
        params = send_params(chat_key, text, reply_to=reply_target(chat_key, answered))
        with _mapped():
            sent = self.api.once("sendMessage", params)
        return posted_as(chat_id, int(sent["message_id"]))

    def edit(self, posted: str, text: str) -> None:
        chat_id, message_id = message_of(posted)
        with _mapped():
            self.api.once(
                "editMessageText", {"chat_id": chat_id, "message_id": message_id, "text": text}
            )


@contextmanager
def _mapped() -> Iterator[None]:
    """The Bot API's errors as the streamer's."""
    try:
        yield
    except BotApiError as exc:
        if unchanged(exc):
            return
        if exc.status == 429:
            raise RateLimited(exc.retry_after or DEFAULT_RETRY_AFTER_S) from exc
        raise Refused(f"Telegram says {exc.status} {exc.description}".strip()) from exc


def streamer_for(settings: TelegramSettings) -> Streamer | None:
    """The Telegram adapter's streamer; None when streaming is off, or with no broker (one
    process: the reply is made before the message's handler returns)."""
    if not settings.telegram_stream or settings.broker_url is None:
        return None
    if settings.telegram_bot_token is None:
        raise RuntimeError("TELEGRAM_BOT_TOKEN is not set: replies cannot be streamed")
    api = client(
        settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url, TIMEOUT_S
    )
    target = TelegramStream(
        api, settings.telegram_stream_every_s, settings.telegram_stream_group_every_s
    )
    return Streamer(LiveText(settings.broker_url), target, settings.reply_timeout_s)
