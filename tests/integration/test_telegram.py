"""Telegram end to end: `replyloop serve telegram` (the real python-telegram-bot Application,
long polling) takes updates from a fake Bot API on 127.0.0.1 (tests/fake_telegram.py); real
gpu and io workers on Redis and PostgreSQL answer through the same fake. The `telegram`
fixture is tests/integration/telegram_harness.py's.
"""

from __future__ import annotations

import time
from pathlib import Path

from core.settings import Settings
from core.store.schema import turns
from core.types import Vote, delivery
from tests.fake_telegram import BOT_ID, BOT_USERNAME, TOKEN
from tests.integration.adapters import export, standing_votes
from tests.integration.telegram_harness import (
    ANN,
    BOB,
    MENU,
    STICKER,
    Telegram,
    group_chat,
    private_chat,
    wait_for,
)
from tests.integration.workers import replyloop
from wire.app import configure
from wire.messages import Deliveries, send_deliveries


def test_a_private_message_is_answered_with_the_rating_keyboard(telegram: Telegram) -> None:
    chat_id = private_chat()
    telegram.say(chat_id, "hello there")
    posted, turn = telegram.reply(chat_id)
    buttons = posted["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["👍", "👎", "🔄"]
    assert [b["callback_data"] for b in buttons] == [
        f"rl:up:{turn.id}",
        f"rl:down:{turn.id}",
        f"rl:retry:{turn.id}",
    ]
    assert "reply_parameters" not in posted  # a private chat's reply quotes nothing
    assert posted["text"] == (turn.completion.strip() or "…")
    assert turn.prompt[-1] == {"role": "user", "content": "hello there"}
    assert turn.platform_message_id == f"{chat_id}:{posted['message_id']}"


def test_a_group_message_not_addressed_to_the_bot_is_not_answered(telegram: Telegram) -> None:
    chat_id = group_chat()
    telegram.say(chat_id, "just talking among ourselves")
    telegram.say(
        chat_id,
        "@someone_else what do you think?",
        entities=[{"type": "mention", "offset": 0, "length": 13}],
    )
    telegram.send(chat_id, sticker=STICKER)
    telegram.say(chat_id, f"@{BOT_USERNAME} from a bot", user={**BOB, "is_bot": True})
    time.sleep(3)
    assert telegram.api.sent(chat_id) == []
    assert not telegram.store.knows_chat("telegram", str(chat_id))


def test_an_edited_message_is_not_answered_again(telegram: Telegram) -> None:
    chat_id = private_chat()
    said = telegram.say(chat_id, "first wording")
    telegram.reply(chat_id)
    telegram.api.push({"edited_message": {**said, "text": "second wording", "edit_date": 1}})
    telegram.say(chat_id, "and a new message")
    telegram.reply(chat_id, 1)
    time.sleep(1)
    assert len(telegram.replies(chat_id)) == 2
    assert telegram.api.called("getUpdates")[-1].params["allowed_updates"][1] == "edited_message"


def test_a_mention_in_a_group_is_answered_as_a_reply_to_it(telegram: Telegram) -> None:
    chat_id = group_chat()
    said = telegram.mention(chat_id, "what is new?")
    posted, turn = telegram.reply(chat_id)
    assert posted["reply_parameters"]["message_id"] == said["message_id"]
    assert turn.prompt[-1] == {"role": "user", "content": "Ann: what is new?"}


def test_ask_and_a_reply_to_the_bot_are_answered_in_a_group(telegram: Telegram) -> None:
    chat_id = group_chat()
    command = f"/ask@{BOT_USERNAME}"
    entity = {"type": "bot_command", "offset": 0, "length": len(command)}
    telegram.say(chat_id, f"{command} is it lunch time?", entities=[entity])
    first, _turn = telegram.reply(chat_id)
    telegram.say(chat_id, "and after that?", user=BOB, reply_to_message=first)
    _second, turn = telegram.reply(chat_id, 1)
    assert [m["content"] for m in turn.prompt if m["role"] == "user"] == [
        "Ann: is it lunch time?",
        "Bob: and after that?",
    ]


def test_a_forum_topic_is_a_conversation_of_its_own(telegram: Telegram) -> None:
    chat_id = group_chat()
    telegram.mention(chat_id, "in the topic", message_thread_id=42, is_topic_message=True)
    posted, turn = telegram.reply(chat_id)
    assert posted["message_thread_id"] == 42
    assert turn.chat_key == f"{chat_id}/42"


def test_a_sticker_in_a_private_chat_gets_a_text_only_notice(telegram: Telegram) -> None:
    chat_id = private_chat()
    telegram.send(chat_id, sticker=STICKER)
    notice = wait_for("the notice", lambda: telegram.notices(chat_id))
    assert notice == ["I can only read text, not stickers, photos, voice messages or files."]
    assert telegram.replies(chat_id) == []


def test_a_press_is_a_vote_and_the_same_press_takes_it_back(
    telegram: Telegram, tmp_path: Path
) -> None:
    chat_id = private_chat()
    telegram.say(chat_id, "rate me, kto-unique-word")
    posted, turn = telegram.reply(chat_id)
    rater = str(ANN["id"])

    first = telegram.press(posted, 0)
    wait_for("the 👍", lambda: standing_votes(telegram.store, turn.id) == [(rater, 1)])
    answered = wait_for(
        "the toast", lambda: telegram.api.called("answerCallbackQuery", callback_query_id=first)
    )
    assert [call.params["text"] for call in answered] == ["👍 recorded"]
    assert wait_for("the counts", lambda: telegram.labels(posted) == ["👍 1", "👎", "🔄"])

    rows = export(telegram.env, telegram.home, tmp_path / "votes.kto.jsonl", "kto")
    row = next(r for r in rows if r["prompt"][-1]["content"] == "rate me, kto-unique-word")
    assert row["label"] is True
    assert row["completion"] == [{"role": "assistant", "content": turn.completion}]

    second = telegram.press(posted, 0)
    wait_for("the retraction", lambda: standing_votes(telegram.store, turn.id) == [(rater, 0)])
    assert wait_for("the counts", lambda: telegram.labels(posted) == ["👍", "👎", "🔄"])
    answered = wait_for(
        "the toast", lambda: telegram.api.called("answerCallbackQuery", callback_query_id=second)
    )
    assert [call.params["text"] for call in answered] == ["Vote taken back"]
    rows = export(telegram.env, telegram.home, tmp_path / "after.kto.jsonl", "kto")
    assert not [r for r in rows if r["prompt"][-1]["content"] == "rate me, kto-unique-word"]


def test_a_thumbs_down_reaction_is_a_vote_and_removing_it_takes_it_back(
    telegram: Telegram, tmp_path: Path
) -> None:
    chat_id = group_chat()
    telegram.mention(chat_id, "react to me, reaction-unique-word")
    posted, turn = telegram.reply(chat_id)
    rater = str(BOB["id"])

    telegram.react(posted, [], ["👎"], user=BOB)
    wait_for("the 👎", lambda: standing_votes(telegram.store, turn.id) == [(rater, -1)])
    rows = export(telegram.env, telegram.home, tmp_path / "votes.kto.jsonl", "kto")
    said = [r for r in rows if "reaction-unique-word" in r["prompt"][-1]["content"]]
    assert len(said) == 1, rows
    row = said[0]
    # A group message carries its sender's name, which an export replaces by a pseudonym.
    speaker, text = row["prompt"][-1]["content"].split(": ", 1)
    assert speaker.startswith("person-") and text == "react to me, reaction-unique-word"
    assert row["label"] is False
    assert row["completion"] == [{"role": "assistant", "content": turn.completion}]

    telegram.react(posted, ["👎"], [], user=BOB)
    wait_for("the retraction", lambda: standing_votes(telegram.store, turn.id) == [(rater, 0)])
    assert telegram.store.vote_history(turn.id, rater) == [Vote.DOWN, Vote.RETRACTED]
    rows = export(telegram.env, telegram.home, tmp_path / "after.kto.jsonl", "kto")
    assert not [r for r in rows if "reaction-unique-word" in r["prompt"][-1]["content"]]


def test_reactions_that_are_not_a_persons_thumbs_are_not_votes(telegram: Telegram) -> None:
    chat_id = group_chat()
    telegram.mention(chat_id, "no votes here")
    posted, turn = telegram.reply(chat_id)
    telegram.react(posted, [], ["🔥"], user=BOB)  # not a thumb
    telegram.react(posted, [], ["👍"], user={**BOB, "id": BOT_ID, "is_bot": True})  # the bot
    said = telegram.mention(chat_id, "a person's message")
    telegram.react(said, [], ["👍"], user=BOB)  # not a reply of the bot's
    telegram.react(posted, [], ["👍"], user=ANN)  # the one that counts, last
    wait_for("Ann's 👍", lambda: standing_votes(telegram.store, turn.id))
    time.sleep(1)
    assert standing_votes(telegram.store, turn.id) == [(str(ANN["id"]), 1)]


def test_try_again_sends_a_sibling_reply(telegram: Telegram) -> None:
    chat_id = private_chat()
    telegram.say(chat_id, "two answers please")
    posted, turn = telegram.reply(chat_id)
    telegram.press(posted, 2, user=BOB)
    _second, sibling = telegram.reply(chat_id, 1)
    assert (sibling.message_id, sibling.prompt) == (turn.message_id, turn.prompt)
    assert sibling.id != turn.id


def test_flood_control_is_waited_out_and_the_reply_sent_once(telegram: Telegram) -> None:
    chat_id = private_chat()
    telegram.api.fail("sendMessage", 429, retry_after=1)
    telegram.say(chat_id, "are you busy?")
    telegram.reply(chat_id)
    calls = telegram.api.called("sendMessage", chat_id=chat_id)
    assert len(calls) == 2  # the refused one, then the one that went through
    assert calls[1].at - calls[0].at >= 1.0
    time.sleep(1)
    assert len(telegram.replies(chat_id)) == 1


def test_a_5xx_retries_the_task_with_backoff_and_sends_once(telegram: Telegram) -> None:
    chat_id = private_chat()
    telegram.api.fail("sendMessage", 502, times=2)
    telegram.say(chat_id, "still there?")
    telegram.reply(chat_id)
    assert len(telegram.api.called("sendMessage", chat_id=chat_id)) == 3
    time.sleep(1)
    assert len(telegram.replies(chat_id)) == 1


def test_a_delivery_that_runs_again_does_not_send_twice(telegram: Telegram) -> None:
    """The io worker sent a reply, then died before marking it delivered: the task runs
    again and finds the part it sent."""
    chat_id = private_chat()
    telegram.say(chat_id, "once")
    posted, turn = telegram.reply(chat_id)
    with telegram.store.engine.begin() as conn:  # as if the mark had never been written
        conn.execute(turns.update().where(turns.c.id == turn.id).values(platform_message_id=None))
    configure(Settings(broker_url=telegram.env["REPLYLOOP_BROKER_URL"], _env_file=None))
    send_deliveries("telegram", Deliveries([delivery(telegram.store.turn(turn.id), repeat=True)]))
    marked = wait_for("the mark", lambda: telegram.store.turn(turn.id).platform_message_id)
    assert marked == f"{chat_id}:{posted['message_id']}"
    assert len(telegram.api.sent(chat_id)) == 1


def test_reset_starts_the_conversation_afresh(telegram: Telegram) -> None:
    chat_id = private_chat()
    telegram.say(chat_id, "remember pineapples")
    telegram.reply(chat_id)
    telegram.say(chat_id, "/reset", entities=[{"type": "bot_command", "offset": 0, "length": 6}])
    wait_for("the reset notice", lambda: "Starting afresh" in " ".join(telegram.notices(chat_id)))
    telegram.say(chat_id, "what fruit?")
    _posted, latest = telegram.reply(chat_id, 1)
    assert [m["content"] for m in latest.prompt[1:]] == ["what fruit?"]


def test_commands_are_registered_and_the_bot_knows_its_name(telegram: Telegram) -> None:
    registered = telegram.api.called("setMyCommands")
    assert [c["command"] for c in registered[0].params["commands"]] == MENU
    assert telegram.api.called("getMe")
    assert telegram.api.called("deleteWebhook")  # polling: any webhook set before is gone
    polls = telegram.api.called("getUpdates")
    assert polls[-1].params["allowed_updates"] == [
        "message",
        "edited_message",
        "callback_query",
        "message_reaction",
    ]
    assert BOT_ID  # the fake's getMe answers as this bot


def test_the_token_never_reaches_the_logs(telegram: Telegram) -> None:
    telegram.say(private_chat(), "say something")
    wait_for("a reply", lambda: telegram.api.called("sendMessage"))
    done = replyloop("config", env=telegram.env, cwd=telegram.home)
    assert done.returncode == 0, done.stderr
    logs = (telegram.home / "serve.log").read_text(errors="replace") + telegram.workers.logs()
    assert "getUpdates" in logs or "polling" in logs  # the adapter did log its work
    assert TOKEN not in logs
    assert TOKEN not in done.stdout
