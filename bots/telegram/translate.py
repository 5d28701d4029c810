"""Telegram's updates in replyloop's terms, with no I/O: which messages the bot answers, the
chat a message belongs to, what a command asks, and the sendMessage a reply becomes.

A chat key is the chat id for a private chat or a group (the whole chat is one
conversation), and `chat_id/topic_id` for a forum topic (each topic is its own). A message
is known by `chat_id:message_id`: how a stored message names the one its reply answers, and
how a posted reply is stored against its Turn.

Updates arrive as the Bot API's JSON (python-telegram-bot's `Update.to_json()`), so these
functions are tested with plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.types import IncomingMessage

PLATFORM = "telegram"

# Our commands (`/ask` is a message, the others are answered without the model).
COMMANDS = frozenset({"start", "help", "reset", "stats"})
ASK = "ask"
# What Telegram sends instead of text: each gets TEXT_ONLY when the bot is addressed.
MEDIA = (
    "photo",
    "sticker",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "document",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
)
TEXT_ONLY = "I can only read text, not stickers, photos, voice messages or files."
USAGE = "Say something after mentioning me (or after /ask), and I'll answer."


@dataclass(frozen=True)
class Me:
    """The bot itself, as getMe says at start-up."""

    id: int
    username: str


@dataclass(frozen=True)
class Answer:
    """A message the bot answers with the model."""

    message: IncomingMessage


@dataclass(frozen=True)
class Notice:
    """A short fixed reply, no model: a sticker, an empty mention."""

    chat_key: str
    text: str


@dataclass(frozen=True)
class Command:
    """One of COMMANDS, or "unknown" for a command addressed to the bot that is not ours."""

    chat_key: str
    name: str


@dataclass(frozen=True)
class Ignore:
    why: str


Decision = Answer | Notice | Command | Ignore


def chat_key(chat_id: int, topic: int | None) -> str:
    """
    >>> chat_key(42, None), chat_key(-1001, 7)
    ('42', '-1001/7')
    """
    return str(chat_id) if topic is None else f"{chat_id}/{topic}"


def where(key: str) -> tuple[int, int | None]:
    """(chat id, forum topic or None) of a chat key.

    >>> where("-1001/7"), where("42")
    ((-1001, 7), (42, None))
    """
    chat, _, topic = key.partition("/")
    return int(chat), int(topic) if topic else None


def posted_as(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def message_of(posted: str) -> tuple[int, int]:
    """(chat id, message id) of a `posted_as` id.

    >>> message_of("-1001:55")
    (-1001, 55)
    """
    chat, _, message = posted.rpartition(":")
    return int(chat), int(message)


def is_private(chat_id: int) -> bool:
    """Private chats have positive ids, groups and channels negative ones."""
    return chat_id > 0


def rater(user_id: int) -> str:
    """A person on Telegram (user ids are global; exports HMAC them)."""
    return str(user_id)


def decide(update: dict[str, Any], me: Me) -> Decision:
    """What to do with one update: answer a message, send a notice, run a command, or
    nothing. In a private chat every message is answered; in a group only a message that
    @mentions the bot, replies to one of its messages, or is `/ask text`.

    >>> me = Me(1, "rl_bot")
    >>> decide({"update_id": 9, "message": {"message_id": 5, "chat": {"id": 42,
    ...   "type": "private"}, "from": {"id": 42, "first_name": "Ann"}, "text": "hi"}}, me)
    ... # doctest: +NORMALIZE_WHITESPACE
    Answer(message=IncomingMessage(platform='telegram', chat_key='42', author='42',
           text='hi', event_id='9', platform_message_id='42:5'))
    >>> decide({"update_id": 10, "edited_message": {}}, me)
    Ignore(why='not a new message')
    """
    message = update.get("message")
    if not isinstance(message, dict):
        return Ignore("not a new message")
    sender = message.get("from") or {}
    if not sender or sender.get("is_bot"):
        return Ignore("not a person's message")
    chat = message.get("chat") or {}
    if chat.get("type") not in ("private", "group", "supergroup"):
        return Ignore("not a private chat or a group")
    private = chat["type"] == "private"
    key = chat_key(int(chat["id"]), topic_of(message))
    text, entities = _text(message)
    asked = False
    command = leading_command(text or "", entities)
    if command is not None:
        name, addressed, rest = command
        if addressed is not None and addressed.lower() != me.username.lower():
            return Ignore("a command for another bot")
        if name == ASK:
            asked, text, entities = True, rest, []
        elif name in COMMANDS:
            return Command(key, name)
        elif private or addressed is not None:
            return Command(key, "unknown")
        else:
            return Ignore("another bot's command")
    mentioned = mentions(text or "", entities, me)
    if not (private or asked or mentioned or replies_to(message, me)):
        return Ignore("not addressed to the bot")
    if text is None:
        if any(kind in message for kind in MEDIA):
            return Notice(key, TEXT_ONLY)
        return Ignore("a service message")
    said = without_mentions(text, entities, me).strip()
    if not said:
        return Notice(key, USAGE)
    if not private:
        said = f"{speaker(sender)}: {said}"
    return Answer(
        IncomingMessage(
            PLATFORM,
            key,
            str(sender["id"]),
            said,
            str(update.get("update_id")),
            posted_as(int(chat["id"]), int(message["message_id"])),
        )
    )


def topic_of(message: dict[str, Any]) -> int | None:
    """The forum topic a message is in. Replies in an ordinary supergroup carry a
    message_thread_id too; only `is_topic_message` makes it a topic."""
    if message.get("is_topic_message") and message.get("message_thread_id") is not None:
        return int(message["message_thread_id"])
    return None


def _text(message: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """The message's text and entities; a caption is read as text."""
    if message.get("text") is not None:
        return str(message["text"]), list(message.get("entities") or [])
    if message.get("caption") is not None:
        return str(message["caption"]), list(message.get("caption_entities") or [])
    return None, []


def entity_text(text: str, entity: dict[str, Any]) -> str:
    """The part of `text` an entity covers. Telegram counts offsets in UTF-16 code units,
    so an emoji before it shifts Python's indexes.

    >>> entity_text("🙂 @rl_bot hi", {"offset": 3, "length": 7})
    '@rl_bot'
    """
    units = text.encode("utf-16-le")
    start, end = 2 * int(entity["offset"]), 2 * (int(entity["offset"]) + int(entity["length"]))
    return units[start:end].decode("utf-16-le", errors="replace")


def leading_command(
    text: str, entities: list[dict[str, Any]]
) -> tuple[str, str | None, str] | None:
    """(name, the bot it is addressed to or None, the text after it) of a command that
    starts the message.

    >>> leading_command("/ask@rl_bot what time is it?",
    ...                 [{"type": "bot_command", "offset": 0, "length": 11}])
    ('ask', 'rl_bot', 'what time is it?')
    >>> leading_command("hi /ask", [{"type": "bot_command", "offset": 3, "length": 4}])
    """
    for entity in entities:
        if entity.get("type") == "bot_command" and int(entity.get("offset", -1)) == 0:
            word = entity_text(text, entity)
            rest = text[len(word) :]
            name, _, addressed = word[1:].partition("@")
            return name.lower(), addressed or None, rest.strip()
    return None


def mentions(text: str, entities: list[dict[str, Any]], me: Me) -> bool:
    """Whether the bot is @mentioned (by username, or a text mention of its id).

    >>> mentions("hey @RL_Bot", [{"type": "mention", "offset": 4, "length": 7}], Me(1, "rl_bot"))
    True
    >>> mentions("hey @other", [{"type": "mention", "offset": 4, "length": 6}], Me(1, "rl_bot"))
    False
    """
    return any(_is_me(text, entity, me) for entity in entities)


def without_mentions(text: str, entities: list[dict[str, Any]], me: Me) -> str:
    """`text` with the bot's own mentions cut out (other people's stay). A text mention
    (a person with no username, shown by their name) gets the "@" a username mention has,
    so the model reads it as one and an export finds the name in its mention form.

    >>> without_mentions("@rl_bot hi @ann", [{"type": "mention", "offset": 0, "length": 7},
    ...                  {"type": "mention", "offset": 11, "length": 4}], Me(1, "rl_bot"))
    ' hi @ann'
    >>> without_mentions("ask Ben", [{"type": "text_mention", "offset": 4, "length": 3,
    ...                  "user": {"id": 8, "first_name": "Ben"}}], Me(1, "rl_bot"))
    'ask @Ben'
    """
    units = text.encode("utf-16-le")
    for entity in sorted(entities, key=lambda e: int(e.get("offset", 0)), reverse=True):
        start = 2 * int(entity.get("offset", 0))
        if _is_me(text, entity, me):
            units = units[:start] + units[start + 2 * int(entity["length"]) :]
        elif _is_person(entity) and not entity_text(text, entity).startswith("@"):
            units = units[:start] + "@".encode("utf-16-le") + units[start:]
    return units.decode("utf-16-le", errors="replace")


def people_named(update: dict[str, Any], me: Me) -> list[tuple[str, str]]:
    """(user id, name) of each person whose name `decide` writes into the text of the
    update's message: in a group, its sender (and their username, which others @mention
    them by); anywhere, each person it text-mentions. The adapter records them
    (core.store.people) so an export can put pseudonyms in their place.

    >>> people_named({"message": {"chat": {"id": -5, "type": "group"}, "text": "hi Ben",
    ...     "from": {"id": 7, "first_name": "Ann", "username": "ann_l"},
    ...     "entities": [{"type": "text_mention", "offset": 3, "length": 3,
    ...                   "user": {"id": 8, "first_name": "Ben"}}]}}, Me(1, "rl_bot"))
    [('7', 'Ann'), ('7', 'ann_l'), ('8', 'Ben')]
    """
    message = update.get("message")
    if not isinstance(message, dict):
        return []
    named: list[tuple[str, str]] = []
    sender = message.get("from") or {}
    if sender.get("id") is not None and (message.get("chat") or {}).get("type") != "private":
        named += _person(sender, speaker(sender))
    text, entities = _text(message)
    for entity in entities:
        if text is not None and _is_person(entity) and not _is_me(text, entity, me):
            shown = entity_text(text, entity).removeprefix("@")
            named += _person(entity["user"], shown)
    return list(dict.fromkeys(named))


def _person(user: dict[str, Any], shown: str) -> list[tuple[str, str]]:
    person = str(user["id"])
    names = [shown, str(user.get("username") or "")]
    return [(person, name) for name in names if name]


def _is_person(entity: dict[str, Any]) -> bool:
    user = entity.get("user")
    return entity.get("type") == "text_mention" and isinstance(user, dict) and "id" in user


def _is_me(text: str, entity: dict[str, Any], me: Me) -> bool:
    if entity.get("type") == "mention":
        return entity_text(text, entity).lower() == f"@{me.username}".lower()
    if entity.get("type") == "text_mention":
        return int((entity.get("user") or {}).get("id", 0)) == me.id
    return False


def replies_to(message: dict[str, Any], me: Me) -> bool:
    """Whether the message replies to one of the bot's. In a forum topic every message
    "replies" to the topic's first (service) message: that one does not count."""
    replied = message.get("reply_to_message") or {}
    if replied.get("forum_topic_created") is not None:
        return False
    return int((replied.get("from") or {}).get("id", 0)) == me.id


def speaker(sender: dict[str, Any]) -> str:
    """How a person is named before their words in a group's context.

    >>> speaker({"id": 7, "first_name": "Ann", "last_name": "Lee"}), speaker({"id": 7})
    ('Ann Lee', '7')
    """
    name = " ".join(
        str(sender[part]) for part in ("first_name", "last_name") if sender.get(part)
    ).strip()
    return name or str(sender.get("username") or sender["id"])


def send_params(
    key: str,
    text: str,
    reply_to: int | None = None,
    markup: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """sendMessage's parameters for `text` in a chat (its topic), as plain text: no parse
    mode, so nothing a model writes can make Telegram refuse it as bad Markdown.

    >>> send_params("-1001/7", "hi", reply_to=5)  # doctest: +NORMALIZE_WHITESPACE
    {'chat_id': -1001, 'text': 'hi', 'message_thread_id': 7,
     'reply_parameters': {'message_id': 5, 'allow_sending_without_reply': True}}
    """
    chat_id, topic = where(key)
    params: dict[str, Any] = {"chat_id": chat_id, "text": text}
    if topic is not None:
        params["message_thread_id"] = topic
    if reply_to is not None:
        # The person may have deleted their message meanwhile: send the reply anyway.
        params["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
    if markup is not None:
        params["reply_markup"] = markup
    return params
