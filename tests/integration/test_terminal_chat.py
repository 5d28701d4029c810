"""`replyloop chat` driven as a person would, in a real pseudo-terminal (pexpect), embedded
(no broker: tasks run in the chat's process, on a SQLite file in REPLYLOOP_DATA_DIR)."""

from __future__ import annotations

import io
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest
from sqlalchemy import select

from bots.terminal.commands import HELP
from core.store import Store, open_store
from core.store.schema import conversations, messages, turns
from core.text import USAGE_HINT
from core.types import Vote
from tests.integration.conftest import MAX_NEW_TOKENS, failed
from tests.integration.workers import clean_env, replyloop_command

EXPECT_TIMEOUT_S = 60  # start-up (torch, the tiny model) takes about 5 s here
CUT = re.compile(r"Your message was ([\d,]+) characters; only the first 100 were read\.")
Spawn = Callable[[], pexpect.spawn]


@pytest.fixture
def user() -> str:
    return f"tester-{secrets.token_hex(4)}"  # the chat key and the rater


@pytest.fixture
def spawn_chat(
    tmp_path: Path, tiny_model: Path, user: str, request: pytest.FixtureRequest
) -> Iterator[Spawn]:
    """Starts `replyloop chat` sessions on one data dir; shows their transcripts on failure."""
    env = clean_env(
        data_dir=str(tmp_path / "data"),
        cache_dir=str(tmp_path / "cache"),
        model=str(tiny_model),
        max_new_tokens=MAX_NEW_TOKENS,
        max_message_chars="100",
    )
    env.update(USER=user, LOGNAME=user)  # getpass.getuser(): the chat key and the rater
    children: list[tuple[pexpect.spawn, io.StringIO]] = []

    def spawn() -> pexpect.spawn:
        command, *args = replyloop_command()
        child = pexpect.spawn(
            command,
            [*args, "chat"],
            env=env,
            cwd=str(tmp_path),
            encoding="utf-8",
            timeout=EXPECT_TIMEOUT_S,
            dimensions=(40, 200),
        )
        child.logfile_read = io.StringIO()
        children.append((child, child.logfile_read))
        child.expect_exact("replyloop chat, model ")
        return child

    yield spawn
    for number, (child, transcript) in enumerate(children, 1):
        child.close(force=True)
        if failed(request):
            print(f"----- chat session {number} -----\n{transcript.getvalue()}")


def store_of(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'data' / 'replyloop.sqlite3'}")


def say(child: pexpect.spawn, line: str, answer: str) -> None:
    child.sendline(line)
    child.expect_exact(answer)
    child.expect_exact("you> ")


def leave(child: pexpect.spawn, how: str) -> None:
    if how == "ctrl-d":
        child.sendeof()
    else:
        child.sendline(how)
    child.expect(pexpect.EOF)
    child.close()
    assert (child.exitstatus, child.signalstatus) == (0, None)


def test_a_chat_session_then_a_second_one(spawn_chat: Spawn, user: str, tmp_path: Path) -> None:
    chat = spawn_chat()
    chat.expect_exact("you> ")
    assert "Continuing" not in chat.before
    say(chat, "hello", "bot> ")
    say(chat, "/good", "👍 recorded")
    say(chat, "/bad", "👎 recorded")
    say(chat, "/unrate", "rating removed")
    say(chat, "/retry", "bot> ")
    say(chat, "   \t ", USAGE_HINT)
    chat.sendline("y" * 5000)
    chat.expect(CUT)
    chat.expect_exact("bot> ")
    chat.expect_exact("you> ")
    chat.sendline("/help")
    for line in HELP.splitlines():
        chat.expect_exact(line)
    chat.expect_exact("you> ")
    leave(chat, "ctrl-d")

    again = spawn_chat()
    again.expect_exact("Continuing your conversation (2 earlier messages); /reset starts")
    again.expect_exact("you> ")
    say(again, "/reset", "New conversation: the bot has forgotten what was said before.")
    say(again, "after the reset", "bot> ")
    leave(again, "/quit")

    store = store_of(tmp_path)
    with store.engine.connect() as conn:
        chats = conn.execute(
            select(conversations.c.id, conversations.c.closed_at)
            .where(conversations.c.chat_key == user)
            .order_by(conversations.c.id)
        ).all()
        said = conn.execute(
            select(messages.c.id, messages.c.conversation_id, messages.c.text).order_by(
                messages.c.id
            )
        ).all()
        replies = conn.execute(
            select(turns.c.id, turns.c.message_id, turns.c.prompt).order_by(turns.c.id)
        ).all()
    assert [closed is None for _, closed in chats] == [False, True]
    first, second = chats[0].id, chats[1].id
    assert [(c, t) for _, c, t in said] == [
        (first, "hello"),
        (first, "y" * 100),
        (second, "after the reset"),
    ]
    hello, cut, after = (m.id for m in said)
    assert [t.message_id for t in replies] == [hello, hello, cut, after]  # /retry: a sibling
    assert store.vote_history(replies[0].id, user) == [Vote.UP, Vote.DOWN, Vote.RETRACTED]
    assert store.vote_history(replies[1].id, user) == []
    assert [m["content"] for m in replies[3].prompt][1:] == ["after the reset"]  # no old context
    store.engine.dispose()


def test_a_long_line_is_counted_whole(spawn_chat: Spawn) -> None:
    chat = spawn_chat()
    chat.expect_exact("you> ")
    chat.sendline("z" * 5000)
    chat.expect(CUT)
    assert chat.match.group(1) == "5,000"


@pytest.mark.parametrize("stream", ["1", "0"])
def test_a_reply_is_printed_as_it_is_made(
    tmp_path: Path, endless_model: Path, user: str, stream: str, request: pytest.FixtureRequest
) -> None:
    """A reply of 1,500 tokens grows for seconds: streamed, its first words show long
    before its end; not streamed, it shows whole at once. Either way the line is the
    stored reply."""
    env = clean_env(
        data_dir=str(tmp_path / "data"),
        cache_dir=str(tmp_path / "cache"),
        model=str(endless_model),
        max_new_tokens="1500",
        temperature="0",
        terminal_stream=stream,
    )
    env.update(USER=user, LOGNAME=user)
    command, *args = replyloop_command()
    chat = pexpect.spawn(
        command, [*args, "chat"], env=env, cwd=str(tmp_path), encoding="utf-8", timeout=60
    )
    chat.logfile_read = io.StringIO()
    try:
        chat.expect_exact("you> ")
        chat.sendline("tell me a long story")
        chat.expect_exact("bot> ")
        first_shown = time.monotonic()
        chat.expect_exact("\r\nyou> ")  # the reply's line ends (it may hold line breaks)
        line_done = time.monotonic()
        shown = chat.before.replace("\r\n", "\n")
    finally:
        chat.close(force=True)
        if failed(request):
            print(chat.logfile_read.getvalue())
    with store_of(tmp_path).engine.connect() as conn:
        completion = conn.execute(select(turns.c.completion)).scalar_one()
    assert shown.strip() == completion.strip() and len(completion) > 500
    if stream == "1":
        assert line_done - first_shown > 1.0  # the reply grew on screen
    else:
        assert line_done - first_shown < 0.5  # printed whole


def test_a_vote_typed_ahead_of_a_streamed_reply_is_recorded(spawn_chat: Spawn) -> None:
    """Lines typed (or pasted) while a reply streams are read the moment it ends. A piped
    session of the default model once had its vote refused there (Celery's result.get()
    "within a task": the reply's task was ending on another thread); the tiny model's
    timing seldom meets that race, so this guards the path, not the race."""
    chat = spawn_chat()
    chat.expect_exact("you> ")
    chat.sendline("hello")
    chat.sendline("/good")
    chat.expect_exact("👍 recorded")
    chat.expect_exact("you> ")
