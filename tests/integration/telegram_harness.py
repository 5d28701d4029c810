"""Telegram end to end, the harness: `replyloop serve telegram` (the real python-telegram-bot
Application, long polling) takes the updates a test pushes into a fake Bot API on 127.0.0.1
(tests/fake_telegram.py); real gpu and io workers on Redis and PostgreSQL answer through
it. Test modules take the `telegram` fixture from here, or `telegram_webhook`: the same
with `serve telegram --webhook`, the fake posting each update to it, and allowlists set
(ANN and BOB may talk to the bot, ANN is its admin; CAROL is nobody it knows).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine

from core.errors import UnknownTurn
from core.store import Store
from core.types import Turn
from tests.fake_telegram import BOT_USERNAME, TOKEN, BotApi, chat, fake_telegram
from tests.integration.adapters import (
    WAIT_S,
    adapter,
    free_port,
    http_ok,
    platform_stack,
    wait_for,
)
from tests.integration.workers import Workers

ANN = {"id": 7001, "is_bot": False, "first_name": "Ann"}
BOB = {"id": 7002, "is_bot": False, "first_name": "Bob"}
CAROL = {"id": 7003, "is_bot": False, "first_name": "Carol"}
WEBHOOK_SECRET = "webhook-secret_never-logged"
# The command menu set with setMyCommands at start-up, in order, in either mode.
MENU = ["ask", "reset", "stats", "help", "start"]
# Every field the Bot API always sends: python-telegram-bot refuses an update without one.
STICKER = {
    "file_id": "sticker-1",
    "file_unique_id": "u-sticker-1",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
    "type": "regular",
}


@dataclass
class Telegram:
    api: BotApi
    store: Store
    workers: Workers
    env: dict[str, str]
    home: Path
    webhook_url: str | None = None

    def say(
        self, chat_id: int, text: str, user: dict[str, Any] = ANN, **fields: Any
    ) -> dict[str, Any]:
        """A person's text message, pushed as an update; the message."""
        return self.send(chat_id, user, text=text, **fields)

    def send(self, chat_id: int, user: dict[str, Any] = ANN, **fields: Any) -> dict[str, Any]:
        """A person's message of any kind (`fields`: text, sticker, caption...)."""
        message = {
            "message_id": self.api.message_id(),
            "date": int(time.time()),
            "chat": chat(chat_id),
            "from": user,
            **fields,
        }
        self.api.push({"message": message})
        return message

    def mention(self, chat_id: int, text: str, **fields: Any) -> dict[str, Any]:
        """`@bot text` in a group, with the mention entity Telegram sends."""
        handle = f"@{BOT_USERNAME}"
        entity = {"type": "mention", "offset": 0, "length": len(handle)}
        return self.say(chat_id, f"{handle} {text}", entities=[entity], **fields)

    def press(self, posted: dict[str, Any], button: int, user: dict[str, Any] = ANN) -> str:
        """A person presses button `button` (0 👍, 1 👎, 2 🔄) under a reply as it stands
        now; the callback query's id."""
        current = self.now(posted)
        data = current["reply_markup"]["inline_keyboard"][0][button]["callback_data"]
        query_id = secrets.token_hex(8)
        self.api.push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user,
                    "chat_instance": "instance-1",
                    "data": data,
                    "message": current,
                }
            }
        )
        return query_id

    def react(
        self,
        posted: dict[str, Any],
        old: list[str],
        new: list[str],
        user: dict[str, Any] = ANN,
    ) -> int:
        """A person's reactions on a message change from `old` to `new` (emoji); the
        update's id."""
        return self.api.push(
            {
                "message_reaction": {
                    "chat": posted["chat"],
                    "message_id": posted["message_id"],
                    "user": user,
                    "date": int(time.time()),
                    "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
                    "new_reaction": [{"type": "emoji", "emoji": e} for e in new],
                }
            }
        )

    def command(self, chat_id: int, name: str, user: dict[str, Any] = ANN) -> dict[str, Any]:
        """`/name` sent by `user`."""
        entity = {"type": "bot_command", "offset": 0, "length": len(name) + 1}
        return self.say(chat_id, f"/{name}", user=user, entities=[entity])

    def replies(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's replies in a chat (its messages with the rating keyboard)."""
        return [m for m in self.api.sent(chat_id) if m.get("reply_markup")]

    def notices(self, chat_id: int) -> list[str]:
        """What the bot said in a chat other than replies."""
        return [m["text"] for m in self.api.sent(chat_id) if not m.get("reply_markup")]

    def reply(
        self, chat_id: int, index: int = 0, timeout: float = WAIT_S
    ) -> tuple[dict[str, Any], Turn]:
        """The bot's `index`th reply in a chat once sent, and its Turn once marked."""
        posted = wait_for(f"reply {index}", lambda: self.replies(chat_id)[index:], timeout)[0]
        return posted, wait_for("its Turn marked delivered", lambda: self._turn(posted))

    def _turn(self, posted: dict[str, Any]) -> Turn | None:
        try:
            return self.store.turn_by_platform_message(
                "telegram", f"{posted['chat']['id']}:{posted['message_id']}"
            )
        except UnknownTurn:
            return None

    def now(self, posted: dict[str, Any]) -> dict[str, Any]:
        """A message the bot sent, as it stands now (its keyboard edited)."""
        chat_id, message_id = posted["chat"]["id"], posted["message_id"]
        return next(m for m in self.api.sent(chat_id) if m["message_id"] == message_id)

    def labels(self, posted: dict[str, Any]) -> list[str]:
        """The keyboard's button labels of a reply, as they stand."""
        return [b["text"] for b in self.now(posted)["reply_markup"]["inline_keyboard"][0]]


def forget_telegram_claims(broker: str) -> None:
    """Drop the Telegram claims (update ids, sent parts) an earlier module left in the
    shared test Redis: each module's fake numbers updates, and its database turns, from
    the same start, which one real bot and store never do."""
    client = redis.Redis.from_url(broker)
    try:
        for key in client.scan_iter("replyloop:seen:telegram:*"):
            client.delete(key)
    finally:
        client.close()


def private_chat() -> int:
    return random.randint(10**8, 10**9)


def group_chat() -> int:
    return -random.randint(10**12, 10**13)


@contextmanager
def served_telegram(
    broker: str, model: Path, pg_admin: Engine, home: Path, **env: str
) -> Iterator[Telegram]:
    """The fake Bot API, workers on `model` and `replyloop serve telegram` (polling), with
    `env` (REPLYLOOP_* settings) added to every process's environment."""
    forget_telegram_claims(broker)
    with fake_telegram() as (api, api_url):
        settings = dict(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=api_url, **env)
        with (
            platform_stack(pg_admin, broker, model, home, **settings) as stack,
            adapter(
                ["serve", "telegram"],
                stack.env,
                home,
                home / "serve.log",
                lambda: bool(api.called("getUpdates")),  # polling: it is up
            ),
        ):
            yield Telegram(api, stack.store, stack.workers, stack.env, home)


@contextmanager
def webhook_adapter(telegram: Telegram, log: str, **env: str) -> Iterator[Telegram]:
    """`replyloop serve telegram --webhook` beside the polling one, with `env` changed for
    it alone: while it runs, the fake posts every update to it (the polling one gets
    none); after, updates are polled again. `telegram` as it talks to that one."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    args = ["serve", "telegram", "--webhook", url, "--host", "127.0.0.1", "--port", str(port)]
    changed = {**telegram.env, "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET, **env}

    def up() -> bool:
        return telegram.api.webhook is not None and http_ok(f"http://127.0.0.1:{port}/healthz")

    try:
        with adapter(args, changed, telegram.home, telegram.home / log, up):
            yield replace(telegram, webhook_url=url)
    finally:
        with telegram.api.lock:
            telegram.api.webhook = None


@pytest.fixture(scope="module")
def telegram(
    worker_broker: str,
    tiny_model: Path,
    pg_admin: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Telegram]:
    home = tmp_path_factory.mktemp("telegram")
    with served_telegram(worker_broker, tiny_model, pg_admin, home) as served:
        yield served


@pytest.fixture(scope="module")
def telegram_webhook(
    worker_broker: str,
    tiny_model: Path,
    pg_admin: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Telegram]:
    """`serve telegram --webhook`, with ANN and BOB allowed and ANN the admin."""
    home = tmp_path_factory.mktemp("telegram-webhook")
    forget_telegram_claims(worker_broker)
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    with fake_telegram() as (api, api_url):
        settings = dict(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=api_url,
            TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            REPLYLOOP_TELEGRAM_USERS=f"{BOB['id']}",
            REPLYLOOP_TELEGRAM_ADMINS=f"{ANN['id']}",
        )
        with (
            platform_stack(pg_admin, worker_broker, tiny_model, home, **settings) as stack,
            adapter(
                ["serve", "telegram", "--webhook", url, "--host", "127.0.0.1", "--port", str(port)],
                stack.env,
                home,
                home / "serve.log",
                lambda: api.webhook is not None and http_ok(f"http://127.0.0.1:{port}/healthz"),
            ),
        ):
            yield Telegram(api, stack.store, stack.workers, stack.env, home, url)


__all__ = [
    "ANN",
    "BOB",
    "CAROL",
    "WEBHOOK_SECRET",
    "STICKER",
    "Telegram",
    "group_chat",
    "private_chat",
    "served_telegram",
    "telegram",
    "telegram_webhook",
    "wait_for",
    "webhook_adapter",
]
