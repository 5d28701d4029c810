"""The Telegram adapter's handlers: python-telegram-bot callbacks that dedupe, decide and
enqueue, nothing more.

- A message (bots.telegram.translate.decide says which): stored, and its reply queued
  (bots.intake), and streamed as it is written (bots.telegram.stream); a sticker or
  photo gets "I can only read text"; /start, /help, /reset and /stats are answered
  through the io queue, like every other notice. A chat or person
  the allowlists leave out (bots.telegram.access) gets no reply: in a private chat one
  short refusal (once per chat while update ids are remembered), in a group nothing;
  /stats, and /reset in a group, are the admins' when admins are listed.
- A 👍/👎 reaction on a reply (bots.telegram.reactions): that person's vote by the reply's
  platform message id (the platform vote task, as Slack's reactions), taken back when the
  reaction is.
- A press on a reply's keyboard: 👍/👎 is that person's vote through the vote task (the
  same button again takes it back, the other switches it), answered with a toast
  (answerCallbackQuery) and the keyboard's counts brought up to date
  (editMessageReplyMarkup); 🔄 asks for a sibling reply.

Updates are claimed by update_id, and presses by callback query id, in Redis (shared by
every replica, and across a restart that sees an update again). python-telegram-bot runs
on asyncio while the store, Redis and Celery calls block: they run in threads
(asyncio.to_thread), so polling never stalls. Messages are handled one at a time, in the
order Telegram sent them (their conversation's order); presses run beside them, one at a
time among themselves: one person's quick double press toggles twice, not once, and only
one thread at a time waits on Celery's Redis result backend, whose pubsub consumer breaks
under concurrent `.get()`s (celery/celery#4363, #6335).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, TypeHandler

from bots.dedupe import Dedupe
from bots.intake import accept, request_reply
from bots.limits import Limits
from bots.streaming.streamer import Streamer
from bots.telegram.access import NOT_ALLOWED, Access, admins_only
from bots.telegram.keyboard import GONE, QUEUED, RETRYING, VOTES, keyboard, press, toast
from bots.telegram.reactions import reaction_vote
from bots.telegram.settings import TelegramSettings
from bots.telegram.stats import stats_text
from bots.telegram.translate import (
    PLATFORM,
    Answer,
    Command,
    Decision,
    Ignore,
    Me,
    Notice,
    decide,
    is_private,
    people_named,
    rater,
)
from bots.votes import take_platform_vote, take_vote
from core.errors import EmptyMessage, UnknownTurn
from core.store import Store
from core.store.people import NameRecorder
from core.store.reports import served_stats
from core.text import check_text
from core.types import Vote
from core.votes import pressed, tally
from wire.messages import (
    CastVote,
    PlatformVote,
    send_notice,
)
from wire.messages import Notice as ChatNotice

log = logging.getLogger(__name__)

SOURCE = "telegram_button"
REACTION_SOURCE = "telegram_reaction"

HELP = (
    "I'm replyloop, a chat bot that learns from your ratings. Here I answer every message; "
    "in a group, mention me, reply to one of my messages, or write /ask and your question. "
    "Rate a reply with 👍 or 👎 under it (the same button again takes your vote back); 🔄 "
    "makes another reply; a 👍 or 👎 reaction on a reply counts too. /reset starts the "
    "conversation afresh; /stats shows how the current model is rated."
)
RESET_DONE = "Starting afresh: I have forgotten this conversation's earlier messages."
UNKNOWN = "I don't know that command. /help lists what I understand."
WORDS = {"start": HELP, "help": HELP}


@dataclass(frozen=True)
class Counted:
    """What a vote press did: the vote task's result, and the counts to show (None when
    the result did not come in time)."""

    result: dict[str, Any] | None
    counts: tuple[int, int] | None


class Handlers:
    def __init__(
        self,
        settings: TelegramSettings,
        store: Store,
        dedupe: Dedupe,
        access: Access | None = None,
        streamer: Streamer | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.dedupe = dedupe
        self.access = access if access is not None else Access.of(settings)
        self.streamer = streamer  # replies shown while they are written (bots.telegram.stream)
        self.names = NameRecorder(store, PLATFORM)
        self.limits = Limits.of(settings)  # counted in Redis, shared by every replica
        self._presses = asyncio.Lock()

    def register(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        application.add_handler(CallbackQueryHandler(self.on_press, block=False))
        application.add_handler(TypeHandler(Update, self.on_update))
        application.add_error_handler(self.on_error)

    # -- messages --------------------------------------------------------------------------

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        me = Me(context.bot.id, context.bot.username)
        if not await self._first(f"telegram:update:{me.id}:{update.update_id}"):
            return
        data = json.loads(update.to_json())
        if "message_reaction" in data:
            await asyncio.to_thread(self.react, data, me)
            return
        decision = decide(data, me)
        await asyncio.to_thread(self.act, decision, data, me)

    def act(self, decision: Decision, update: dict[str, Any], me: Me) -> None:
        """Store and queue, or answer; in a thread (the store and Redis block)."""
        if isinstance(decision, Ignore):
            log.debug("update ignored: %s", decision.why)
            return
        if not self.allowed(decision, update, me):
            return
        if isinstance(decision, Answer):
            self.answer(decision, people_named(update, me))
        elif isinstance(decision, Notice):
            self.tell(decision.chat_key, decision.text)
        elif isinstance(decision, Command):
            self.command(decision)

    def allowed(self, decision: Answer | Notice | Command, update: dict[str, Any], me: Me) -> bool:
        """Whether the allowlists and admins let this message's decision be carried out;
        if not, the refusal is sent (where one is due)."""
        message = update["message"]  # decide answers nothing else
        chat_id, user_id = int(message["chat"]["id"]), int(message["from"]["id"])
        key = decision.message.chat_key if isinstance(decision, Answer) else decision.chat_key
        if not self.access.allows(chat_id, user_id):
            log.info("Telegram user %s in chat %s is not allowed: ignored", user_id, chat_id)
            if is_private(chat_id) and self.dedupe.first(f"telegram:refused:{me.id}:{chat_id}"):
                self.tell(key, NOT_ALLOWED)
            return False
        if isinstance(decision, Command) and not self.access.may_run(
            decision.name, user_id, is_private(chat_id)
        ):
            self.tell(key, admins_only(decision.name))
            return False
        return True

    def answer(self, decision: Answer, named: list[tuple[str, str]]) -> None:
        message = decision.message
        try:
            checked = check_text(message.text, self.settings.max_message_chars)
        except EmptyMessage as exc:
            self.tell(message.chat_key, str(exc))
            return
        if checked.notice:
            self.tell(message.chat_key, checked.notice)
        # Recorded before the text that carries them is: an export never meets a name it
        # cannot replace.
        self.names.remember(named)
        accept(self.store, replace(message, text=checked.text), self.streamer, self.limits)

    def command(self, decision: Command) -> None:
        if decision.name == "reset":
            self.store.reset(PLATFORM, decision.chat_key)
            self.tell(decision.chat_key, RESET_DONE)
        elif decision.name == "stats":
            self.tell(decision.chat_key, stats_text(served_stats(self.store.engine)))
        else:
            self.tell(decision.chat_key, WORDS.get(decision.name, UNKNOWN))

    def tell(self, chat_key: str, text: str) -> None:
        send_notice(PLATFORM, ChatNotice(chat_key, 0, text))

    # -- reactions ---------------------------------------------------------------------------

    def react(self, update: dict[str, Any], me: Me) -> None:
        """A 👍/👎 reaction added or removed: a vote on the reply it is on (in a thread)."""
        vote = reaction_vote(update, me)
        if vote is None:
            log.debug("reaction ignored: not a person's 👍 or 👎")
            return
        if not self.access.allows(vote.chat_id, vote.user_id):
            log.info("reaction by %s in chat %s: not allowed, ignored", vote.user_id, vote.chat_id)
            return
        take_platform_vote(
            self.store,
            PlatformVote(
                platform=PLATFORM,
                posted_as=vote.posted,
                rater=vote.rater,
                value=int(vote.vote),
                source=REACTION_SOURCE,
                at=vote.at,
            ),
        )

    # -- keyboard presses ------------------------------------------------------------------

    async def on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or not await self._first(f"telegram:callback:{query.id}"):
            return
        chat_id = query.message.chat.id if query.message is not None else 0
        if not self.access.allows(chat_id, query.from_user.id):
            await query.answer(NOT_ALLOWED)
            return
        pressed_ = press(query.data or "")
        if pressed_ is None:
            await query.answer()
            return
        action, turn_id = pressed_
        if action == "retry":
            asked = await asyncio.to_thread(self.retry, turn_id, query.id)
            await query.answer(RETRYING if asked else GONE)
            return
        async with self._presses:
            counted = await asyncio.to_thread(
                self.vote, turn_id, rater(query.from_user.id), VOTES[action]
            )
        await query.answer(toast(counted.result) if counted.result is not None else QUEUED)
        if counted.counts is None or query.message is None:
            return
        markup = InlineKeyboardMarkup.de_json(keyboard(turn_id, *counted.counts), context.bot)
        try:
            await query.edit_message_reply_markup(reply_markup=markup)
        except BadRequest as exc:  # "message is not modified": the counts were shown already
            log.info("keyboard of reply %s not updated: %s", turn_id, exc)

    def retry(self, turn_id: int, query_id: str) -> bool:
        """Ask for a sibling of reply `turn_id`; False if the reply is unknown."""
        try:
            message_id = self.store.turn(turn_id).message_id
        except UnknownTurn:
            log.info("🔄 on an unknown reply %s", turn_id)
            return False
        request_reply(message_id, retry=True, retry_id=f"telegram:{query_id}")
        return True

    def vote(self, turn_id: int, who: str, button: Vote) -> Counted:
        """The press as a vote, recorded now (bots.votes), and the reply's counts after it;
        nothing to show when the database is down and the io queue records it later."""
        try:
            standing = self.store.standing_votes(turn_id).get(who, Vote.RETRACTED)
        except SQLAlchemyError:  # the store is down: the press sets the vote, queued below
            standing = Vote.RETRACTED
        cast = CastVote(turn_id, who, int(pressed(standing, button)), SOURCE)
        result = take_vote(self.store, cast)
        if result is None or not result.get("ok"):
            return Counted(result, None)
        return Counted(result, tally(self.store.standing_votes(turn_id).values()))

    # -- both ------------------------------------------------------------------------------

    async def _first(self, key: str) -> bool:
        return await asyncio.to_thread(self.dedupe.first, key)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The token in a URL or an error's text is hidden by the filter bootstrap puts on
        # the log handlers (replyloop.bootstrap.hide_secrets).
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("update %s failed", update_id, exc_info=context.error)
