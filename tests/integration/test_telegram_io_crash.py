"""An io worker killed while Telegram's answers to its sendMessage calls are on their way:
after a new worker takes the redelivered tasks, every reply is in its chat exactly once,
none twice (Telegram posted the ones in flight, and sendMessage has no idempotency key),
none missing (the ones not yet sent), and each is stored as delivered.

The fake Telegram posts every reply's last part (the one with the keyboard), then holds
its answer until the test has killed the worker (`hold`): the kill lands mid-call on
every in-flight reply, deterministically. A two-part reply has its first part answered
before the kill and its second held. The release before this test's change sent the
eight replies in flight again (8 of 16 duplicated).
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import redis

from bots.telegram.once import UNKNOWN_ID
from bots.telegram.split import split_reply
from bots.telegram.translate import posted_as
from core.settings import Settings
from core.store import Store, open_store
from core.types import ChatMessage, delivery
from tests.fake_telegram import TOKEN, fake_telegram
from tests.integration.adapters import wait_for
from tests.integration.telegram_harness import forget_telegram_claims, private_chat
from tests.integration.workers import start_workers, worker_env
from wire.app import configure
from wire.live import PREFIX as LIVE_PREFIX
from wire.messages import Deliveries, send_deliveries

VISIBILITY_S = 30  # the least the settings allow; kombu looks for such messages every 10 s
REPLIES = 16
THREADS = 8  # the io worker's default concurrency: replies in flight at the kill
LONG = "A" * 4000 + "\n\n" + "B" * 1000  # two parts (bots.telegram.split)


def stored_replies(store: Store, chats: list[int]) -> list[tuple[int, int, str]]:
    """(chat id, turn id, text) of a stored reply in each chat; the first one is LONG."""
    made = []
    for index, chat_id in enumerate(chats):
        text = LONG if index == 0 else f"reply number {index}, to chat {chat_id}"
        conversation_id, message_id = store.add_chat_message(
            "telegram", str(chat_id), "7001", f"hello {index}", f"{chat_id}:{index + 1}"
        )
        prompt: list[ChatMessage] = [{"role": "user", "content": f"hello {index}"}]
        turn = store.add_turn(
            conversation_id, message_id, f"msg:{message_id}", prompt, text, "v", {}, {}
        )
        made.append((chat_id, turn.id, text))
    return made


def forget_live_replies(broker: str) -> None:
    """Drop the streamed replies' hashes earlier modules left (wire.live, keyed by stored
    message id): this test's fresh store numbers its messages from 1 again, and a
    delivery would take an old Slack stream for its own."""
    client = redis.Redis.from_url(broker)
    try:
        for key in client.scan_iter(f"{LIVE_PREFIX}*"):
            client.delete(key)
    finally:
        client.close()


def test_a_killed_io_worker_posts_each_reply_once(
    worker_broker: str, tiny_model: Path, tmp_path: Path
) -> None:
    forget_telegram_claims(worker_broker)
    forget_live_replies(worker_broker)
    database_url = f"sqlite:///{tmp_path / 'replyloop.sqlite3'}"
    with fake_telegram() as (api, api_url):
        env = worker_env(
            worker_broker,
            database_url,
            tiny_model,
            tmp_path,
            visibility_timeout_s=str(VISIBILITY_S),
        )
        env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=api_url)
        (tmp_path / "first").mkdir()
        first = start_workers(env, tmp_path / "first", queues=("io",))
        second = None
        store = open_store(database_url)
        try:
            configure(Settings(_env_file=None, broker_url=worker_broker, database_url=database_url))
            replies = stored_replies(store, [private_chat() for _ in range(REPLIES)])
            api.hold()
            for _chat_id, turn_id, _text in replies:
                send_deliveries("telegram", Deliveries([delivery(store.turn(turn_id))]))
            wait_for(f"{THREADS} answers held", lambda: api.held_now() == THREADS)
            io = first.workers[0]
            os.killpg(io.process.pid, signal.SIGKILL)
            io.process.wait(10)
            api.release()
            in_flight = {
                c.params["chat_id"] for c in api.called("sendMessage") if "reply_markup" in c.params
            }
            assert len(in_flight) == THREADS
            assert store.delivered([turn_id for _c, turn_id, _t in replies]) == set()

            (tmp_path / "second").mkdir()
            second = start_workers(env, tmp_path / "second", queues=("io",))
            turn_ids = [turn_id for _c, turn_id, _t in replies]
            wait_for(
                "every reply marked delivered",
                lambda: len(store.delivered(turn_ids)) == REPLIES,
                VISIBILITY_S + 90,
            )
            broker = redis.Redis.from_url(worker_broker)
            wait_for("no task left", lambda: not broker.hlen("unacked") and not broker.llen("io"))

            for chat_id, turn_id, text in replies:
                shown = [m["text"] for m in api.sent(chat_id)]
                assert shown == split_reply(text), (chat_id, len(shown))  # once each, in order
                posted = store.turn(turn_id).platform_message_id
                last = api.sent(chat_id)[-1]["message_id"]
                expected = UNKNOWN_ID if chat_id in in_flight else last
                assert posted == posted_as(chat_id, expected), (chat_id, posted)
            calls = Counter(c.params["chat_id"] for c in api.called("sendMessage"))
            assert calls == {chat_id: len(split_reply(text)) for chat_id, _t, text in replies}
        except BaseException:
            print(first.logs()[-8000:])
            if second is not None:
                print(second.logs()[-8000:])
            raise
        finally:
            first.stop()
            if second is not None:
                second.stop()
            store.engine.dispose()
