"""The console's web chat: a platform ("web") on the same pipeline as every other. A
signed-in person's chat is theirs alone (chat key: their user name); a message is stored,
its reply asked for `live`, and the page follows it (`stream`) until the delivery task
(bots.web.delivery) hands over the stored reply. Votes go through bots.votes, as a
platform's buttons do."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bots.intake import store_message
from bots.outbox import Outbox
from bots.votes import take_vote
from bots.web.delivery import PLATFORM
from core.errors import UnknownTurn
from core.settings import Settings
from core.store import Store
from core.store.browse import ChatLine, chat_history
from core.text import check_text
from core.types import IncomingMessage
from wire.live import LiveTexts
from wire.messages import CastVote, request_reply

POLL_S = 0.1  # how often a page's stream looks at the reply so far
NO_REPLY = (
    "No reply within {seconds:.0f} s: is a `replyloop worker gpu` running? The message "
    "stays queued; its reply shows here when you come back."
)


class NotYours(LookupError):
    """A message or reply of another chat, or none at all."""


@dataclass(frozen=True)
class Sent:
    message_id: int
    notice: str | None  # the message was cut to fit, say


class WebChat:
    def __init__(
        self, settings: Settings, store: Store, live: LiveTexts | None, box: Outbox
    ) -> None:
        self.settings = settings
        self.store = store
        self.live = live
        self.box = box

    def history(self, user: str) -> list[ChatLine]:
        return chat_history(self.store.engine, PLATFORM, user, user)

    def send(self, user: str, text: str) -> Sent:
        """Store the message and ask for its reply; EmptyMessage (core.errors) for nothing
        to say."""
        checked = check_text(text, self.settings.max_message_chars)
        message_id = store_message(self.store, IncomingMessage(PLATFORM, user, user, checked.text))
        self._ask(message_id, retry=False)
        return Sent(message_id, checked.notice)

    def retry(self, user: str, message_id: int) -> None:
        """Another reply to one of this person's messages."""
        self._own_message(user, message_id)
        self._ask(message_id, retry=True)

    def reset(self, user: str) -> None:
        self.store.reset(PLATFORM, user)

    def vote(self, user: str, turn_id: int, value: int) -> dict[str, Any] | None:
        """The vote's result (None: queued while the database is away); NotYours for a
        reply of another chat."""
        try:
            turn = self.store.turn(turn_id)
        except UnknownTurn:
            raise NotYours(f"no reply {turn_id}") from None
        if self.store.platform_of(turn.conversation_id) != (PLATFORM, user):
            raise NotYours(f"reply {turn_id} is not in your chat")
        return take_vote(self.store, CastVote(turn_id, user, value, PLATFORM))

    def stream(self, user: str, message_id: int) -> Iterator[dict[str, Any]]:
        """What the page shows while the reply comes: {"text": so far} each time it grew,
        then {"done": turn id, "text": the whole reply} or {"notice": why none came}.
        NotYours at once (not at the first event) for another chat's message."""
        self._own_message(user, message_id)
        return self._events(message_id)

    def _events(self, message_id: int) -> Iterator[dict[str, Any]]:
        deadline = time.monotonic() + self.settings.reply_timeout_s
        shown = ""
        while True:
            item = self.box.get(str(message_id), POLL_S)
            if item is not None and "notice" in item:
                yield {"notice": item["notice"]}
                return
            if item is not None:
                yield {"done": item["turn_id"], "text": item["text"]}
                return
            text = self.live.read(message_id).get("text", "") if self.live else ""
            if text and text != shown:
                shown = text
                yield {"text": text}
            if time.monotonic() > deadline:
                yield {"notice": NO_REPLY.format(seconds=self.settings.reply_timeout_s)}
                return

    def _own_message(self, user: str, message_id: int) -> None:
        try:
            message = self.store.message(message_id)
        except LookupError:
            raise NotYours(f"no message {message_id}") from None
        if self.store.platform_of(message.conversation_id) != (PLATFORM, user):
            raise NotYours(f"message {message_id} is not in your chat")

    def _ask(self, message_id: int, retry: bool) -> None:
        if self.live is not None:
            self.live.open(message_id)
        if not self.settings.embedded:
            request_reply(message_id, retry=retry, live=True)
            return
        # Embedded, the reply is made inside request_reply (an eager task): on a thread of
        # its own, so the page's stream can follow it meanwhile.
        threading.Thread(
            target=request_reply,
            args=(message_id,),
            kwargs={"retry": retry, "live": True},
            name=f"web-reply-{message_id}",
            daemon=True,
        ).start()
