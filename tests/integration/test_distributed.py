"""The reply loop distributed: this process sends work as `replyloop chat` does, real
`replyloop worker gpu` / `worker io` processes do it, on SQLite and on PostgreSQL.
Each test has a chat key of its own; the workers and their database are shared by a module.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from bots.intake import request_reply
from bots.outbox import outbox
from core.anonymize import conversation_pseudonym, rater_hash
from core.errors import UnknownTurn
from core.settings import Settings
from core.types import Turn, Vote
from tests.integration.conftest import Chat
from tests.integration.workers import replyloop
from wire.messages import ReplyRequest
from wire.tasks import send
from workers.models import folder_version

SYSTEM_PROMPT = Settings.model_fields["system_prompt"].default
RATER_SECRET = "distributed-test-rater-secret"


def test_reply_is_stored_with_its_prompt_model_and_timings(chat: Chat, tiny_model: Path) -> None:
    text = "hello there, how are you today?"
    message_id = chat.say(text)
    item = chat.reply()
    turn = chat.store.turn(item["turn_id"])
    assert item == {"turn_id": turn.id, "message_id": message_id, "text": turn.completion}
    assert turn.message_id == message_id
    assert turn.prompt == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": text},
    ]
    assert turn.model_version == folder_version(tiny_model)
    assert turn.settings["max_new_tokens"] == 6 and turn.settings["system_prompt"] == SYSTEM_PROMPT
    assert {"queued_s", "context_s", "generate_s", "prompt_tokens", "new_tokens"} <= set(
        turn.timings
    )
    assert turn.timings["generate_s"] > 0 and turn.timings["prompt_tokens"] > 0
    assert 0 <= turn.timings["new_tokens"] <= 6 and turn.timings["queued_s"] >= 0
    # Delivery hands the reply over, then records it: wait a moment for the record.
    deadline = time.monotonic() + 10
    while chat.store.turn(turn.id).platform_message_id is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert chat.store.turn(turn.id).platform_message_id == str(turn.id)


def test_votes_are_stored_in_order(chat: Chat) -> None:
    chat.say("rate me")
    turn = chat.turn()
    rater = f"rater-{chat.key}"
    assert chat.vote(turn.id, rater, Vote.UP) == {"ok": True, "value": 1, "previous": 0}
    assert chat.vote(turn.id, rater, Vote.DOWN) == {"ok": True, "value": -1, "previous": 1}
    assert chat.vote(turn.id, rater, Vote.RETRACTED) == {"ok": True, "value": 0, "previous": -1}
    assert chat.store.vote_history(turn.id, rater) == [Vote.UP, Vote.DOWN, Vote.RETRACTED]


def test_vote_for_an_unknown_turn_says_so(chat: Chat) -> None:
    unknown = 987_654_321
    result = chat.vote(unknown, f"rater-{chat.key}", Vote.UP)
    assert result == {"ok": False, "error": str(UnknownTurn(unknown))}
    assert "no reply 987654321 is known here" in result["error"]


def test_retry_makes_a_sibling_that_later_context_uses(chat: Chat) -> None:
    first_text = "what is the capital of France?"
    message_id = chat.say(first_text)
    first = chat.turn()
    retry_key = request_reply(message_id, retry=True)
    sibling = chat.turn()
    assert sibling.id != first.id
    assert (sibling.message_id, sibling.conversation_id) == (message_id, first.conversation_id)
    assert sibling.prompt == first.prompt
    assert chat.turns_of(message_id) == [f"msg:{message_id}", retry_key]
    follow_up = "and of Spain?"
    chat.say(follow_up)
    assert chat.turn().prompt == [  # the reply the user saw last is the one remembered
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": first_text},
        {"role": "assistant", "content": sibling.completion},
        {"role": "user", "content": follow_up},
    ]


def test_redelivered_generate_makes_no_second_turn_or_reply(chat: Chat) -> None:
    message_id = chat.say("say it once")
    first = chat.reply()
    # What a redelivered task carries: the same message id and request key.
    send(ReplyRequest(message_id, f"msg:{message_id}", time.time()))
    # One gpu worker process with prefetch 1 takes its queue in order: once the retry's
    # reply is here, the redelivered task has run.
    retry_key = request_reply(message_id, retry=True)
    after = chat.reply()
    assert after["turn_id"] != first["turn_id"] and after["message_id"] == message_id
    assert chat.outbox.get(chat.key, 1) is None
    assert chat.turns_of(message_id) == [f"msg:{message_id}", retry_key]


@pytest.mark.parametrize("fmt", ["raw", "kto", "pairs"])
def test_export_of_the_votes(chat: Chat, fmt: str, tmp_path: Path) -> None:
    alice, bob = f"alice-{chat.key}", f"bob-{chat.key}"
    message_id = chat.say(f"export ({fmt})")
    disliked = chat.turn()
    request_reply(message_id, retry=True)
    liked = chat.turn()
    chat.say(f"retracted ({fmt})")
    retracted = chat.turn()
    for turn, rater, value in [
        (disliked, alice, Vote.UP),
        (disliked, alice, Vote.DOWN),
        (disliked, bob, Vote.DOWN),
        (liked, alice, Vote.UP),
        (retracted, alice, Vote.UP),
        (retracted, alice, Vote.RETRACTED),
    ]:
        assert chat.vote(turn.id, rater, value)["ok"]

    out = tmp_path / f"{fmt}.jsonl"
    env = {**chat.workers.env, "REPLYLOOP_RATER_SECRET": RATER_SECRET}
    done = replyloop(
        "feedback", "export", "--format", fmt, "--out", str(out), env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text(encoding="utf-8")
    assert alice not in text and bob not in text  # raters only as pseudonyms
    rows = [json.loads(line) for line in text.splitlines()]
    prompts = [disliked.prompt, liked.prompt, retracted.prompt]
    mine = [row for row in rows if row["prompt"] in prompts]  # other tests' rows are there too
    assert mine == expected_rows(fmt, disliked, liked, alice, bob)


def expected_rows(fmt: str, disliked: Turn, liked: Turn, alice: str, bob: str) -> list[Any]:
    def said(turn: Turn) -> list[dict[str, str]]:
        return [{"role": "assistant", "content": turn.completion}]

    conversation = conversation_pseudonym(RATER_SECRET.encode(), "terminal", liked.conversation_id)
    model = liked.model_version
    if fmt == "kto":
        return [
            {"prompt": disliked.prompt, "completion": said(disliked), "label": False,
             "conversation_id": conversation, "model_version": model, "up": 0, "down": 2},
            {"prompt": liked.prompt, "completion": said(liked), "label": True,
             "conversation_id": conversation, "model_version": model, "up": 1, "down": 0},
        ]  # fmt: skip
    if fmt == "pairs":
        return [
            {"prompt": disliked.prompt, "chosen": said(liked), "rejected": said(disliked),
             "conversation_id": conversation, "chosen_model_version": model,
             "rejected_model_version": model, "chosen_up": 1, "chosen_down": 0,
             "rejected_up": 0, "rejected_down": 2}
        ]  # fmt: skip

    def raw(turn: Turn, up: int, down: int, votes: list[tuple[str, int]]) -> dict[str, Any]:
        return {
            "turn_id": turn.id,
            "conversation_id": conversation,
            "platform": "terminal",
            "prompt": turn.prompt,
            "completion": turn.completion,
            "model_version": turn.model_version,
            "generation_settings": turn.settings,
            "up": up,
            "down": down,
            "raters": [
                {
                    "rater": rater_hash(RATER_SECRET.encode(), "terminal", r),
                    "vote": v,
                    "reasons": None,
                }
                for r, v in votes
            ],
            "created_at": turn.created_at.isoformat(),
        }

    return [raw(disliked, 0, 2, [(alice, -1), (bob, -1)]), raw(liked, 1, 0, [(alice, 1)])]


def test_waiting_over_5_s_for_a_reply_that_does_not_come(worker_broker: str) -> None:
    """redis-py 8 gives every read a 5 s socket timeout, and the chat waits reply_timeout_s
    (300 s): before 535d229 this raised redis.exceptions.TimeoutError after 5 s."""
    started = time.monotonic()
    assert outbox(worker_broker).get(f"chat-{secrets.token_hex(6)}", 6) is None
    assert time.monotonic() - started >= 5.5


def test_a_nul_byte_is_no_lost_message(chat: Chat) -> None:
    """PostgreSQL refuses NUL in text: it is dropped, and the message is still answered."""
    message_id = chat.say("a NUL \x00 byte")
    turn = chat.turn()
    assert turn.message_id == message_id
    assert chat.store.message(message_id).text == "a NUL  byte"


def test_the_terminal_chat_streams_through_redis(chat: Chat) -> None:
    """`replyloop chat` with a broker asks for its replies live and reads the text so far
    from Redis: the line it prints is the stored reply."""
    from bots.terminal.chat import TerminalChat
    from wire.live import LiveText

    settings = Settings(
        _env_file=None,
        broker_url=chat.workers.broker_url,
        database_url=chat.workers.database_url,
        terminal_stream=True,
    )
    said: list[str] = []
    written: list[str] = []
    terminal = TerminalChat(
        settings,
        chat.store,
        chat.outbox,
        say=said.append,
        user=chat.key,
        live=LiveText(chat.workers.broker_url),
        write=written.append,
    )
    # The workers sample: the tiny random model says nothing about once in 50 replies, and
    # the chat then prints its empty-reply notice. Such a reply is checked and asked again.
    for _ in range(6):
        said.clear()
        written.clear()
        assert terminal.handle("hello there")
        assert terminal.last is not None
        reply = chat.store.turn(terminal.last.turn_id).completion
        if reply:
            break
        assert said[-1] == "bot> (the model gave an empty reply; /retry or /bad it)", said
    printed = "".join(written) if written else said[-1] + "\n"
    assert reply and printed == f"bot> {reply}\n"
