"""Task messages travel as one JSON object and come back equal; a message of the release
before (positional arguments) is still read; a wrong one fails by name."""

from __future__ import annotations

import json

import pytest

import bots.slack.backfill
import bots.wecom.card_messages
from core.types import Delivery
from wire.messages import (
    CastVote,
    Deliveries,
    Intake,
    Notice,
    PlatformVote,
    ReplyRequest,
)
from wire.tasks import TaskMessage

EXAMPLES: list[TaskMessage] = [
    ReplyRequest(7, "msg:7", 1700000000.5, live=True),
    Intake("slack", "T:C:1.0", "U1", "hello", "C:1.0"),
    CastVote(3, "rater", -1, "slack_button"),
    PlatformVote("wecom", "fb-1", "r", 1, "wecom_feedback", 1.5, {"reason": "ok"}, 30.0),
    Deliveries([Delivery(turn_id=1, message_id=2, chat_key="c", text="hi", repeat=True)]),
    Notice("c", 0, "Sorry"),
    bots.slack.backfill.JoinThread("T:C:1.0", "1.5", "U1", "hi"),
    bots.wecom.card_messages.CardPress("wecom:c:1:u", 4, "up", "code", 2.0),
    bots.wecom.card_messages.CardUpdate("wecom:c:1:u", 4, "retry", "code", "reply"),
]


def every_message_type(cls: type[TaskMessage] = TaskMessage) -> set[type[TaskMessage]]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *every_message_type(sub)}
    return found


def test_every_message_type_has_an_example() -> None:
    assert {type(m) for m in EXAMPLES} == every_message_type()


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_a_message_survives_json(message: TaskMessage) -> None:
    sent = json.loads(json.dumps(message.to_wire()))
    assert type(message).from_wire(sent) == message


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_a_positional_message_of_the_release_before_is_read(message: TaskMessage) -> None:
    positional = list(json.loads(json.dumps(message.to_wire())).values())
    assert type(message).from_wire(*positional) == message


def test_a_wrong_message_fails_naming_the_field() -> None:
    with pytest.raises(TypeError, match="rater"):
        CastVote.from_wire({"turn_id": 1, "value": 1, "source": "x"})
    with pytest.raises(TypeError, match="colour"):
        Notice.from_wire({"chat_key": "c", "message_id": 0, "text": "t", "colour": "red"})


def test_each_task_named_message_has_a_name() -> None:
    # A message with a task a platform (delivery, notices) is named by its sender.
    unnamed = {t.__name__ for t in every_message_type() if not t.TASK}
    assert unnamed == {"Deliveries", "Notice"}
