"""WeCom callbacks as messages, and replies split at WeCom's 2,048-byte limit."""

from __future__ import annotations

import doctest

import bots.wecom.bot_translate
import bots.wecom.cards
import bots.wecom.translate
from bots.wecom.bot_translate import bot_message
from bots.wecom.translate import TEXT_BYTES, app_message, split_text


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(bots.wecom.translate).failed == 0
    assert doctest.testmod(bots.wecom.cards).failed == 0
    assert doctest.testmod(bots.wecom.bot_translate).failed == 0


def test_smart_bot_messages_mixed_quoted_voice_and_media() -> None:
    base = {"msgid": "m", "aibotid": "B", "from": {"userid": "u"}, "chattype": "single"}
    mixed = bot_message(
        {
            **base,
            "msgtype": "mixed",
            "mixed": {
                "msg_item": [
                    {"msgtype": "text", "text": {"content": "@bot 看这张图"}},
                    {"msgtype": "image", "image": {"url": "U"}},
                ]
            },
            "quote": {"msgtype": "text", "text": {"content": "昨天的数据"}},
        }
    )
    assert (mixed.text, mixed.has_media) == ("> 昨天的数据\n\n看这张图", True)
    assert mixed.chat_key == "bot/B/single/u"
    voice = bot_message({**base, "msgtype": "voice", "voice": {"content": "语音转写"}})
    assert (voice.text, voice.has_media) == ("语音转写", False)
    image = bot_message({**base, "msgtype": "image", "image": {"url": "U"}})
    assert (image.text, image.has_media) == ("", True)
    poll = bot_message({**base, "msgtype": "stream", "stream": {"id": "s9"}})
    assert (poll.kind, poll.stream_id) == ("stream", "s9")
    assert bot_message({"msgtype": "text", "text": "not an object"}).text == ""


def test_a_text_callback_is_a_message_of_its_user_s_chat() -> None:
    said = app_message(
        {
            "ToUserName": "ww1",
            "FromUserName": "zhangsan",
            "CreateTime": "1700000000",
            "MsgType": "text",
            "Content": "你好",
            "MsgId": "123",
            "AgentID": "1000002",
        }
    )
    assert (said.chat_key, said.kind, said.text, said.msg_id) == (
        "ww1/1000002/zhangsan",
        "text",
        "你好",
        "123",
    )


def test_an_event_without_msgid_is_keyed_by_user_time_and_button() -> None:
    said = app_message({"FromUserName": "u", "CreateTime": "17", "MsgType": "event"})
    assert (said.kind, said.msg_id, said.text) == ("event", "u:17:", "")
    pressed = app_message(
        {
            "FromUserName": "u",
            "CreateTime": "17",
            "MsgType": "event",
            "Event": "template_card_event",
            "EventKey": "up:5",
            "ResponseCode": "rc",
        }
    )
    assert (pressed.event, pressed.event_key, pressed.response_code) == (
        "template_card_event",
        "up:5",
        "rc",
    )
    assert (pressed.msg_id, pressed.created_at) == ("u:17:up:5", 17.0)


def test_long_replies_split_at_sentences_within_the_byte_limit() -> None:
    sentence = "这是一个很长的句子，用来测试分段。"  # 17 characters, 51 bytes
    text = sentence * 100
    parts = split_text(text)
    assert all(len(part.encode()) <= TEXT_BYTES for part in parts)
    assert all(part.endswith("。") for part in parts)
    assert "".join(parts) == text


def test_paragraphs_are_kept_whole_where_they_fit() -> None:
    first, second = "a" * 1500, "b" * 1500
    assert split_text(f"{first}\n\n{second}") == [first, second]


def test_short_and_empty_texts_are_one_part() -> None:
    assert split_text("hi") == ["hi"] and split_text("") == [""]
