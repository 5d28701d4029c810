"""WeCom callbacks as messages, and replies split at WeCom's 2,048-byte limit."""

from __future__ import annotations

import doctest

import bots.wecom.cards
import bots.wecom.translate
from bots.wecom.translate import TEXT_BYTES, app_message, split_text


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(bots.wecom.translate).failed == 0
    assert doctest.testmod(bots.wecom.cards).failed == 0


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
