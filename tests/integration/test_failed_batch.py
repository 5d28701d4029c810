"""A request that fails inside a shared batch, on real distributed workers: its chat is
told, and the chats batched with it still get their replies.

The gpu worker (threads pool) hands each generate message straight to its batch
(workers.strategy). A batch that fails is served again one request at a time; the request
that still fails runs once more as a normal Celery task, whose failure sends the chat the
notice. Its own workers: the model's chat template refuses a newest message saying "boom".
Its chat's next message is answered at once: nothing waits for a reply given up on.
"""

from __future__ import annotations

from pathlib import Path

from bots.intake import request_reply, store_message
from bots.outbox import outbox
from core.settings import Settings
from core.types import IncomingMessage
from replyloop.bootstrap import bootstrap
from tests.integration.conftest import MAX_NEW_TOKENS
from tests.integration.test_failed_reply import with_chat_template
from tests.integration.workers import start_workers, worker_env
from workers.tiny_model import CHAT_TEMPLATE

REFUSE_BOOM = (
    "{% if 'boom' in messages[-1]['content'] %}{{ raise_exception('boom is refused') }}{% endif %}"
)
FINE_CHATS = 6
NOTICE = "Sorry, no reply could be made (TemplateError)"


def test_one_refused_request_fails_alone_and_its_chat_is_told(
    worker_broker: str, tiny_model: Path, tmp_path: Path
) -> None:
    model = with_chat_template(tiny_model, tmp_path / "model", REFUSE_BOOM + CHAT_TEMPLATE)
    database_url = f"sqlite:///{tmp_path / 'replyloop.sqlite3'}"
    env = worker_env(worker_broker, database_url, model, tmp_path, max_new_tokens=MAX_NEW_TOKENS)
    workers = start_workers(env, tmp_path)
    try:
        settings = Settings(_env_file=None, broker_url=worker_broker, database_url=database_url)
        store = bootstrap(settings).store
        box = outbox(worker_broker)
        texts = {f"fine-{i}": f"hello number {i}" for i in range(FINE_CHATS)}
        texts["refused"] = "boom goes the message"
        sent = {}
        for chat, text in texts.items():  # all in flight at once: they share batches
            sent[chat] = store_message(store, IncomingMessage("terminal", chat, "u", text))
            request_reply(sent[chat])
        for chat, message_id in sent.items():
            item = box.get(chat, 60)
            assert item is not None, f"{chat}: nothing within 60 s\n{workers.logs()}"
            assert item["message_id"] == message_id
            if chat == "refused":
                assert item["notice"].startswith(NOTICE), item
            else:
                assert "turn_id" in item and "notice" not in item, item
                assert store.turn(item["turn_id"]).message_id == message_id
        assert store.turn_for_request(f"msg:{sent['refused']}") is None
        after = store_message(store, IncomingMessage("terminal", "refused", "u", "and now?"))
        request_reply(after)
        item = box.get("refused", 30)  # not order_wait_s (300 s) later
        assert item is not None and "turn_id" in item, f"{item}\n{workers.logs()}"
        assert store.turn(item["turn_id"]).prompt[1:] == [
            {"role": "user", "content": "boom goes the message"},
            {"role": "user", "content": "and now?"},
        ]
        log = workers.logs()
        assert "failed in its batch (TemplateError('boom is refused'))" in log, log
        store.engine.dispose()
    finally:
        workers.stop()
