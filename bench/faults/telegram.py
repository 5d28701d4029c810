"""Telegram for the harness: the fake Bot API (tests/fake_telegram.py) answering at a real
API's pace, `replyloop serve telegram` (python-telegram-bot, long polling), and people who
message the bot in private chats and press 👍 under replies."""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.faults.platform import BotMessage, Quiet, slow
from bench.faults.stack import Adapter, Stack
from bots.telegram.keyboard import press
from tests.fake_http import serving
from tests.fake_telegram import TOKEN, BotApi, _Handler, chat

PAUSED = ("sendMessage", "editMessageText", "editMessageReplyMarkup")


class PacedBotApi(BotApi):
    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        if method in PAUSED:
            slow()
        return super().answer(method, params)


class TelegramPlatform:
    name = "telegram"

    def __init__(self, api: BotApi, api_url: str) -> None:
        self.api = api
        self.api_url = api_url
        self.chats: dict[str, int] = {}
        self.updates: dict[str, int] = {}
        self.lock = threading.Lock()

    def env(self) -> dict[str, str]:
        return dict(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=self.api_url)

    def start_adapter(self, stack: Stack, name: str = "serve-telegram") -> Adapter:
        return stack.start_adapter(
            ["serve", "telegram"], lambda: bool(self.api.called("getUpdates")), name
        )

    def send(self, token: str) -> None:
        chat_id = random.randint(10**8, 10**9)  # a private chat: the person's own id
        message = {
            "message_id": self.api.message_id(),
            "date": int(time.time()),
            "chat": chat(chat_id),
            "from": person(chat_id),
            "text": f"hello {token}",
        }
        with self.lock:
            self.chats[token] = chat_id
        update_id = self.api.push({"message": message})
        with self.lock:
            self.updates[token] = update_id

    def vote(self, token: str, message: BotMessage) -> None:
        with self.lock:
            chat_id = self.chats[token]
        current = next(m for m in self.api.sent(chat_id) if str(m["message_id"]) == message.key)
        data = current["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        query = {
            "id": secrets.token_hex(8),
            "from": person(chat_id),
            "chat_instance": "instance-1",
            "data": data,
            "message": current,
        }
        self.api.push({"callback_query": query})

    def replies(self, token: str) -> list[BotMessage]:
        with self.lock:
            chat_id = self.chats[token]
        return [_bot_message(m) for m in self.api.sent(chat_id)]

    def acked(self, token: str) -> bool:
        """Telegram forgets an update once getUpdates asks for a later offset."""
        with self.lock:
            update_id = self.updates.get(token)
        offsets = [int(c.params.get("offset") or 0) for c in self.api.called("getUpdates")]
        return update_id is not None and update_id < max(offsets, default=0)

    def pending(self) -> int:
        with self.api.lock:
            return len(self.api.updates)

    def close(self) -> None:
        pass


def person(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"Person {user_id}"}


def _bot_message(sent: dict[str, Any]) -> BotMessage:
    """A reply is whole once its last part carries the rating keyboard."""
    rows = (sent.get("reply_markup") or {}).get("inline_keyboard") or [[]]
    named = [press(str(b.get("callback_data", ""))) for b in rows[0]]
    turns = [found[1] for found in named if found is not None]
    turn = turns[0] if turns else None
    return BotMessage(str(sent["message_id"]), bool(turns), turn, str(sent.get("text", ""))[:60])


@contextmanager
def telegram_platform() -> Iterator[TelegramPlatform]:
    api = PacedBotApi()
    handler = type("Handler", (Quiet, _Handler), {"api": api, "token": TOKEN})
    with serving(handler) as port:
        yield TelegramPlatform(api, f"http://127.0.0.1:{port}/bot")
