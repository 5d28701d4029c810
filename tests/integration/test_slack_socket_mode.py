"""Slack over Socket Mode: `replyloop serve slack` with SLACK_APP_TOKEN set (and no signing
secret, no public URL) opens a WebSocket through `apps.connections.open` and takes its
events and commands there, through slack-bolt's built-in Socket Mode handler; the same
workers answer through the fake Slack Web API. The Socket Mode side is
tests/fake_socket_mode.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bots.slack.listeners import HELP
from tests.fake_slack import BOT_USER, TEAM
from tests.fake_socket_mode import SocketModeServer, socket_mode_server
from tests.integration.adapters import adapter
from tests.integration.slack_harness import Slack, event_callback, new_channel, wait_for

# The channels this adapter answers in (REPLYLOOP_SLACK_CHANNELS): one a test.
CHANNELS = ("CSOCKET1", "CSOCKET2")


@dataclass
class SocketMode:
    slack: Slack
    server: SocketModeServer


@pytest.fixture(scope="module")
def socket_mode(slack: Slack) -> Iterator[SocketMode]:
    env = {k: v for k, v in slack.env.items() if k != "SLACK_SIGNING_SECRET"}
    env["SLACK_APP_TOKEN"] = "xapp-test-token"
    env["REPLYLOOP_SLACK_CHANNELS"] = ",".join(CHANNELS)
    log = slack.home / "socket-mode.log"
    with socket_mode_server() as server:
        slack.workspace.socket_url = server.url
        with adapter(["serve", "slack"], env, slack.home, log, server.connected):
            yield SocketMode(slack, server)


def test_a_mention_over_socket_mode_is_acknowledged_and_answered(socket_mode: SocketMode) -> None:
    slack, server = socket_mode.slack, socket_mode.server
    channel = CHANNELS[0]
    said, event = slack.message_event(channel, f"<@{BOT_USER}> hello over the socket")
    envelope = server.send("events_api", event_callback(event))
    assert server.ack(envelope, timeout=3) == {"envelope_id": envelope}
    posted, turn = slack.reply(channel)
    assert posted["thread_ts"] == said["ts"]
    assert turn.prompt[-1] == {"role": "user", "content": "Ann: hello over the socket"}
    assert wait_for("the reactions", lambda: posted.get("reactions") == ["+1", "-1"])


def test_an_event_sent_again_over_socket_mode_is_answered_once(socket_mode: SocketMode) -> None:
    slack, server = socket_mode.slack, socket_mode.server
    channel = CHANNELS[1]
    _said, event = slack.message_event(channel, f"<@{BOT_USER}> only once")
    body = event_callback(event)
    first = server.send("events_api", body)
    again = server.send("events_api", body)  # Slack's retry of an envelope it thinks lost
    server.ack(first), server.ack(again)
    slack.reply(channel)
    time.sleep(2)  # time enough for a second reply to be made and posted
    assert len(slack.posted(channel)) == 1


def test_the_slash_command_answers_in_its_acknowledgement(socket_mode: SocketMode) -> None:
    command = {
        "command": "/replyloop",
        "text": "help",
        "team_id": TEAM,
        "channel_id": "C1",
        "user_id": "U1",
        "response_url": "https://hooks.slack.invalid/x",
        "trigger_id": "1.2.3",
    }
    envelope = socket_mode.server.send("slash_commands", command)
    assert socket_mode.server.ack(envelope, timeout=3)["payload"] == {"text": HELP}


def test_channels_outside_the_allowlist_are_ignored_and_dms_answered(
    socket_mode: SocketMode,
) -> None:
    slack, server = socket_mode.slack, socket_mode.server
    elsewhere, dm = new_channel(), "D" + new_channel()[1:]
    _said, mention = slack.message_event(elsewhere, f"<@{BOT_USER}> over here?")
    server.ack(server.send("events_api", event_callback(mention)))
    _said, direct = slack.message_event(dm, "and in a DM?")
    server.ack(server.send("events_api", event_callback(direct)))
    slack.reply(dm)
    time.sleep(1)  # the mention, sent first, would have been answered by now
    assert slack.posted(elsewhere) == [] and slack.workspace_texts(elsewhere) == []
