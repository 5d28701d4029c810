"""Telegram's pure translations: updates to decisions, the trigger rules in groups, the
reply splitter, the rating keyboard. Plain dicts in, exact values out."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bots.telegram.api import api_url
from bots.telegram.delivery import reply_target
from bots.telegram.keyboard import callback_data, keyboard, press, toast
from bots.telegram.split import TEXT_LIMIT, split_reply, units
from bots.telegram.translate import (
    TEXT_ONLY,
    USAGE,
    Answer,
    Command,
    Ignore,
    Me,
    Notice,
    chat_key,
    decide,
    send_params,
    where,
)
from core.types import IncomingMessage, Vote
from core.votes import pressed

ME = Me(99, "rl_bot")
ANN = {"id": 7, "is_bot": False, "first_name": "Ann"}
GROUP = {"id": -100123, "type": "supergroup", "title": "Team"}
PRIVATE = {"id": 7, "type": "private", "first_name": "Ann"}


def update(chat: dict[str, Any] = GROUP, **message: Any) -> dict[str, Any]:
    return {
        "update_id": 500,
        "message": {"message_id": 11, "date": 1, "chat": chat, "from": ANN, **message},
    }


def mention(handle: str = "@rl_bot", offset: int = 0) -> dict[str, Any]:
    return {"type": "mention", "offset": offset, "length": len(handle)}


def command(text: str) -> dict[str, Any]:
    return {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}


def answer(key: str, text: str, author: str = "7", posted: str = "-100123:11") -> Answer:
    return Answer(IncomingMessage("telegram", key, author, text, "500", posted))


# -- private chats ---------------------------------------------------------------------------


def test_every_private_message_is_answered() -> None:
    assert decide(update(PRIVATE, text="  hi there "), ME) == answer("7", "hi there", posted="7:11")


def test_a_private_sticker_gets_the_text_only_notice() -> None:
    assert decide(update(PRIVATE, sticker={"file_id": "x"}), ME) == Notice("7", TEXT_ONLY)


def test_a_photos_caption_is_read_as_text() -> None:
    said = update(PRIVATE, photo=[{"file_id": "p"}], caption="what is this?")
    assert decide(said, ME) == answer("7", "what is this?", posted="7:11")


def test_a_service_message_is_ignored_even_in_private() -> None:
    assert decide(update(PRIVATE, pinned_message={"message_id": 3}), ME) == Ignore(
        "a service message"
    )


# -- groups: the trigger rules ---------------------------------------------------------------


def test_a_group_message_without_a_trigger_is_ignored() -> None:
    assert decide(update(text="lunch?"), ME) == Ignore("not addressed to the bot")


def test_a_mention_by_username_is_answered_without_the_mention() -> None:
    said = update(text="@rl_bot what's up?", entities=[mention("@rl_bot")])
    assert decide(said, ME) == answer("-100123", "Ann: what's up?")


def test_a_mention_is_matched_case_insensitively_after_an_emoji() -> None:
    # "🙂 " is 3 UTF-16 units: Telegram's offset 3 is Python's index 2
    said = update(text="🙂 @RL_Bot hi", entities=[mention("@RL_Bot", offset=3)])
    assert decide(said, ME) == answer("-100123", "Ann: 🙂  hi")


def test_a_text_mention_of_the_bots_id_is_a_mention() -> None:
    entity = {"type": "text_mention", "offset": 0, "length": 2, "user": {"id": 99}}
    assert decide(update(text="rl help me", entities=[entity]), ME) == answer(
        "-100123", "Ann: help me"
    )


def test_a_mention_of_someone_else_is_not_a_trigger() -> None:
    said = update(text="@other_bot hi", entities=[mention("@other_bot")])
    assert decide(said, ME) == Ignore("not addressed to the bot")


def test_a_reply_to_the_bots_message_is_answered() -> None:
    replied = {"message_id": 3, "date": 1, "chat": GROUP, "from": {"id": 99, "is_bot": True}}
    said = update(text="and then?", reply_to_message=replied)
    assert decide(said, ME) == answer("-100123", "Ann: and then?")


def test_a_reply_to_a_person_is_not_a_trigger() -> None:
    replied = {"message_id": 3, "date": 1, "chat": GROUP, "from": {"id": 8, "is_bot": False}}
    assert decide(update(text="yes", reply_to_message=replied), ME) == Ignore(
        "not addressed to the bot"
    )


def test_a_topic_message_replying_to_the_topics_start_is_not_a_reply_to_the_bot() -> None:
    # The bot made the topic; every message in it "replies" to that service message.
    start = {"message_id": 42, "date": 1, "chat": GROUP, "from": {"id": 99, "is_bot": True}}
    start["forum_topic_created"] = {"name": "Ideas", "icon_color": 1}
    said = update(text="hello", message_thread_id=42, is_topic_message=True, reply_to_message=start)
    assert decide(said, ME) == Ignore("not addressed to the bot")


def test_ask_is_answered_with_its_text() -> None:
    assert decide(update(text="/ask is it noon?", entities=[command("/ask")]), ME) == answer(
        "-100123", "Ann: is it noon?"
    )


def test_ask_addressed_to_the_bot_is_answered() -> None:
    said = update(text="/ask@rl_bot is it noon?", entities=[command("/ask@rl_bot")])
    assert decide(said, ME) == answer("-100123", "Ann: is it noon?")


def test_ask_addressed_to_another_bot_is_ignored() -> None:
    said = update(text="/ask@other_bot is it noon?", entities=[command("/ask@other_bot")])
    assert decide(said, ME) == Ignore("a command for another bot")


def test_ask_alone_gets_the_usage_hint() -> None:
    assert decide(update(text="/ask", entities=[command("/ask")]), ME) == Notice("-100123", USAGE)


def test_a_bare_mention_gets_the_usage_hint() -> None:
    assert decide(update(text="@rl_bot", entities=[mention("@rl_bot")]), ME) == Notice(
        "-100123", USAGE
    )


def test_a_group_sticker_is_ignored_unless_it_replies_to_the_bot() -> None:
    assert decide(update(sticker={"file_id": "x"}), ME) == Ignore("not addressed to the bot")
    replied = {"message_id": 3, "date": 1, "chat": GROUP, "from": {"id": 99, "is_bot": True}}
    said = update(sticker={"file_id": "x"}, reply_to_message=replied)
    assert decide(said, ME) == Notice("-100123", TEXT_ONLY)


def test_a_caption_mentioning_the_bot_is_answered() -> None:
    said = update(photo=[{"file_id": "p"}], caption="@rl_bot look", caption_entities=[mention()])
    assert decide(said, ME) == answer("-100123", "Ann: look")


def test_forum_topics_are_conversations_of_their_own() -> None:
    said = update(
        text="@rl_bot hi", entities=[mention()], message_thread_id=42, is_topic_message=True
    )
    assert decide(said, ME) == answer("-100123/42", "Ann: hi")


def test_a_thread_id_without_a_topic_is_the_whole_group() -> None:
    # Replies in an ordinary supergroup carry message_thread_id too.
    said = update(text="@rl_bot hi", entities=[mention()], message_thread_id=42)
    assert decide(said, ME) == answer("-100123", "Ann: hi")


# -- commands --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["start", "help", "reset"])
def test_our_commands(name: str) -> None:
    assert decide(update(PRIVATE, text=f"/{name}", entities=[command(f"/{name}")]), ME) == (
        Command("7", name)
    )


def test_a_command_addressed_to_the_bot_in_a_topic() -> None:
    said = update(
        text="/reset@rl_bot",
        entities=[command("/reset@rl_bot")],
        message_thread_id=5,
        is_topic_message=True,
    )
    assert decide(said, ME) == Command("-100123/5", "reset")


def test_unknown_commands() -> None:
    assert decide(update(PRIVATE, text="/zap", entities=[command("/zap")]), ME) == Command(
        "7", "unknown"
    )
    assert decide(update(text="/zap", entities=[command("/zap")]), ME) == Ignore(
        "another bot's command"
    )
    assert decide(update(text="/zap@rl_bot", entities=[command("/zap@rl_bot")]), ME) == Command(
        "-100123", "unknown"
    )


# -- never answered --------------------------------------------------------------------------


def test_edits_channels_and_bots_are_ignored() -> None:
    edited = {"update_id": 1, "edited_message": update(PRIVATE, text="hi")["message"]}
    assert decide(edited, ME) == Ignore("not a new message")
    channel = {"id": -1009, "type": "channel", "title": "News"}
    assert decide(update(channel, text="@rl_bot hi", entities=[mention()]), ME) == Ignore(
        "not a private chat or a group"
    )
    bot = update(PRIVATE, text="hi")
    bot["message"]["from"] = {"id": 5, "is_bot": True, "first_name": "Other"}
    assert decide(bot, ME) == Ignore("not a person's message")


# -- chat keys and sending -------------------------------------------------------------------


def test_chat_keys_round_trip() -> None:
    assert [where(chat_key(c, t)) for c, t in [(7, None), (-100123, 42)]] == [
        (7, None),
        (-100123, 42),
    ]


def test_send_params_in_a_topic_with_the_keyboard() -> None:
    assert send_params("-100123/42", "hello", reply_to=11, markup=keyboard(5)) == {
        "chat_id": -100123,
        "text": "hello",
        "message_thread_id": 42,
        "reply_parameters": {"message_id": 11, "allow_sending_without_reply": True},
        "reply_markup": {
            "inline_keyboard": [
                [
                    {"text": "👍", "callback_data": "rl:up:5"},
                    {"text": "👎", "callback_data": "rl:down:5"},
                    {"text": "🔄", "callback_data": "rl:retry:5"},
                ]
            ]
        },
    }
    assert send_params("7", "hi") == {"chat_id": 7, "text": "hi"}


def test_replies_quote_their_message_in_groups_only() -> None:
    assert reply_target("-100123/42", "-100123:11") == 11
    assert reply_target("-100123", "-999:11") is None  # another chat's message
    assert reply_target("7", "7:11") is None
    assert reply_target("-100123", None) is None


def test_the_api_url_holds_the_token_as_python_telegram_bot_puts_it() -> None:
    assert api_url("http://127.0.0.1:9/bot", "1:AB") == "http://127.0.0.1:9/bot1:AB"


# -- the splitter ----------------------------------------------------------------------------


def test_a_reply_that_fits_is_one_part() -> None:
    assert split_reply("short") == ["short"]
    assert split_reply("x" * TEXT_LIMIT) == ["x" * TEXT_LIMIT]
    assert split_reply("") == [""]
    assert split_reply(" hi \n") == ["hi"]


def test_a_long_reply_splits_at_a_paragraph_first() -> None:
    first, second = "a" * 3000 + ".", "b" * 2000 + "."
    assert split_reply(f"{first}\n\n{second}") == [first, second]


def test_then_at_a_sentence() -> None:
    sentence = "This is a sentence. "  # 20 characters
    text = sentence * 300  # 6,000 characters, no paragraph or line break, one space at the end
    parts = split_reply(text)
    assert [len(p) for p in parts] == [4079, 1919]
    assert all(p.endswith("sentence.") for p in parts)


def test_then_a_hard_cut() -> None:
    assert [len(p) for p in split_reply("x" * 9000)] == [4096, 4096, 808]


def test_emoji_count_twice() -> None:
    parts = split_reply("👍" * 3000)  # 6,000 UTF-16 units
    assert [len(p) for p in parts] == [2048, 952]
    assert [units(p) for p in parts] == [4096, 1904]


def test_splitting_never_loses_text() -> None:
    rng = random.Random(7)
    pieces = ["word", "Sentence.", "?", "\n", "\n\n", " ", "👍", "一二三。", "x" * 50]
    for _ in range(50):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 3000)))
        limit = rng.choice([20, 100, TEXT_LIMIT])
        parts = split_reply(text, limit)
        assert all(units(p) <= limit for p in parts)
        assert all(p.strip() for p in parts) or not text.strip()
        assert "".join("".join(p.split()) for p in parts) == "".join(text.split())


# -- the keyboard ----------------------------------------------------------------------------


def test_the_keyboard_shows_the_counts() -> None:
    assert keyboard(8, up=3, down=1) == {
        "inline_keyboard": [
            [
                {"text": "👍 3", "callback_data": "rl:up:8"},
                {"text": "👎 1", "callback_data": "rl:down:8"},
                {"text": "🔄", "callback_data": "rl:retry:8"},
            ]
        ]
    }


def test_callback_data_fits_telegrams_64_bytes_and_reads_back() -> None:
    biggest = 2**63 - 1
    data = callback_data("retry", biggest)
    assert len(data.encode()) <= 64
    assert press(data) == ("retry", biggest)
    assert [press(d) for d in ["rl:down:3", "rl:down:-3", "xx:up:3", "rl:up:", ""]] == [
        ("down", 3),
        None,
        None,
        None,
        None,
    ]


def test_a_press_toggles_and_switches_and_the_toast_says_so() -> None:
    assert pressed(Vote.RETRACTED, Vote.UP) == Vote.UP
    assert pressed(Vote.UP, Vote.UP) == Vote.RETRACTED
    assert pressed(Vote.UP, Vote.DOWN) == Vote.DOWN
    assert pressed(Vote.DOWN, Vote.DOWN) == Vote.RETRACTED
    results: list[dict[str, Any]] = [
        {"ok": True, "value": 1, "previous": 0},
        {"ok": True, "value": -1, "previous": 0},
        {"ok": True, "value": 1, "previous": -1},
        {"ok": True, "value": -1, "previous": 1},
        {"ok": True, "value": 0, "previous": 1},
        {"ok": True, "value": 1, "previous": 1},
        {"ok": False, "error": "no reply 5"},
    ]
    assert [toast(r) for r in results] == [
        "👍 recorded",
        "👎 recorded",
        "Switched to 👍",
        "Switched to 👎",
        "Vote taken back",
        "👍 recorded",
        "That reply is no longer known here.",
    ]
