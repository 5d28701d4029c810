"""An adapter that cannot reach the database when a message arrives (it has answered the
platform already) hands the message to the io queue, which stores and answers it."""

from __future__ import annotations

from bots.intake import accept
from core.store import Store
from core.store.engine import make_engine
from core.types import IncomingMessage
from tests.integration.conftest import Chat


def test_a_message_the_adapter_cannot_store_is_stored_by_the_io_worker(chat: Chat) -> None:
    down = Store(make_engine("postgresql+psycopg://replyloop@127.0.0.1:9/unreachable"))
    accept(down, IncomingMessage("terminal", chat.key, "u", "are you there?"))
    turn = chat.turn()
    assert turn.prompt[-1] == {"role": "user", "content": "are you there?"}
    assert chat.store.message(turn.message_id).chat_key == chat.key
    assert "database unavailable" not in chat.workers.logs()  # the adapter said it, not they
    down.engine.dispose()
