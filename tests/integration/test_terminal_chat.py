"""`replyloop chat` driven as a person would, in a real pseudo-terminal (pexpect), embedded
(no broker: tasks run in the chat's process, on a SQLite file in REPLYLOOP_DATA_DIR), and
once with a broker and workers that start late."""

from __future__ import annotations

import io
import re
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pexpect
import pytest
from sqlalchemy import select

from bots.terminal.chat import NO_GPU_WORKER, NOTHING_TO_UNRATE, STOPPED, STOPPED_WAITING
from bots.terminal.commands import HELP
from core.store import Store, open_store
from core.store.schema import conversations, messages, turns
from core.text import USAGE_HINT
from core.types import Vote
from tests.integration.conftest import MAX_NEW_TOKENS, failed
from tests.integration.pty_waits import expect_working, interrupt_at_prompt
from tests.integration.workers import clean_env, replyloop_command, start_workers, worker_env

CUT = re.compile(r"Your message was ([\d,]+) characters; only the first 100 were read\.")


class Spawn(Protocol):
    def __call__(self, model: Path | None = None, **settings: str) -> pexpect.spawn: ...


@pytest.fixture
def user() -> str:
    return f"tester-{secrets.token_hex(4)}"  # the chat key and the rater


@pytest.fixture
def spawn_chat(
    tmp_path: Path, tiny_model: Path, user: str, request: pytest.FixtureRequest
) -> Iterator[Spawn]:
    """Starts `replyloop chat` sessions on one data dir (the tiny model unless `model`,
    more REPLYLOOP_* `settings` if given); shows their transcripts on failure."""
    children: list[tuple[pexpect.spawn, io.StringIO]] = []

    def spawn(model: Path | None = None, **settings: str) -> pexpect.spawn:
        chosen = {"max_new_tokens": MAX_NEW_TOKENS, "max_message_chars": "100", **settings}
        env = clean_env(
            data_dir=str(tmp_path / "data"),
            cache_dir=str(tmp_path / "cache"),
            model=str(model or tiny_model),
            **chosen,
        )
        env.update(USER=user, LOGNAME=user)  # getpass.getuser(): the chat key and the rater
        command, *args = replyloop_command()
        child = pexpect.spawn(
            command,
            [*args, "chat"],
            env=env,
            cwd=str(tmp_path),
            encoding="utf-8",
            dimensions=(40, 200),
            # A person's Ctrl-C reaches the chat; a test run started in the background (whose
            # shell set SIGINT to ignored for it, which exec passes on) must not hide it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        child.logfile_read = io.StringIO()
        children.append((child, child.logfile_read))
        expect_working(child, "replyloop chat, model ")
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
    expect_working(child, answer)
    expect_working(child, "you> ")


def leave(child: pexpect.spawn, how: str) -> None:
    if how == "ctrl-d":
        child.sendeof()
    elif how == "ctrl-c":
        interrupt_at_prompt(child)
    else:
        child.sendline(how)
    expect_working(child, pexpect.EOF)
    closed_cleanly(child)


def closed_cleanly(child: pexpect.spawn) -> None:
    """The chat ended with exit 0 and printed no crash on its way out."""
    child.close()
    assert (child.exitstatus, child.signalstatus) == (0, None)
    transcript = child.logfile_read.getvalue()
    for crash in ("Traceback", "Aborted", "terminate called"):
        assert crash not in transcript


def test_a_chat_session_then_a_second_one(spawn_chat: Spawn, user: str, tmp_path: Path) -> None:
    chat = spawn_chat()
    expect_working(chat, "you> ")
    assert "Continuing" not in chat.before
    say(chat, "hello", "bot> ")
    say(chat, "/good", "👍 recorded")
    say(chat, "/bad", "👎 recorded")
    say(chat, "/unrate", "rating removed")
    say(chat, "/retry", "bot> ")
    say(chat, "   \t ", USAGE_HINT)
    chat.sendline("y" * 5000)
    expect_working(chat, CUT)
    expect_working(chat, "bot> ")
    expect_working(chat, "you> ")
    chat.sendline("/help")
    for line in HELP.splitlines():
        expect_working(chat, line)
    expect_working(chat, "you> ")
    leave(chat, "ctrl-d")

    again = spawn_chat()
    expect_working(again, "Continuing your conversation (2 earlier messages); /reset starts")
    expect_working(again, "you> ")
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


def test_one_earlier_message_is_said_in_the_singular(spawn_chat: Spawn) -> None:
    chat = spawn_chat()
    expect_working(chat, "you> ")
    say(chat, "hello", "bot> ")
    leave(chat, "/quit")
    again = spawn_chat()
    expect_working(again, "Continuing your conversation (1 earlier message); /reset starts")
    leave(again, "/quit")


def test_unrate_without_a_rating_says_so_and_stores_nothing(
    spawn_chat: Spawn, user: str, tmp_path: Path
) -> None:
    chat = spawn_chat()
    expect_working(chat, "you> ")
    say(chat, "hello", "bot> ")
    say(chat, "/unrate", NOTHING_TO_UNRATE)
    say(chat, "/good", "👍 recorded")
    say(chat, "/unrate", "rating removed")
    say(chat, "/unrate", NOTHING_TO_UNRATE)  # taken back already
    leave(chat, "/quit")
    store = store_of(tmp_path)
    with store.engine.connect() as conn:
        turn_id = conn.execute(select(turns.c.id)).scalar_one()
    assert store.vote_history(turn_id, user) == [Vote.UP, Vote.RETRACTED]
    store.engine.dispose()


def test_a_long_line_is_counted_whole(spawn_chat: Spawn) -> None:
    chat = spawn_chat()
    expect_working(chat, "you> ")
    chat.sendline("z" * 5000)
    expect_working(chat, CUT)
    assert chat.match.group(1) == "5,000"


@pytest.mark.parametrize("stream", ["1", "0"])
def test_a_reply_is_printed_as_it_is_made(
    spawn_chat: Spawn, tmp_path: Path, endless_model: Path, stream: str
) -> None:
    """A reply of 1,500 tokens grows for seconds: streamed, its first words show long
    before its end; not streamed, it shows whole at once. Either way the line is the
    stored reply. Times are compared with the whole wait, not with a number of seconds:
    a busy machine makes every part slower."""
    chat = spawn_chat(endless_model, max_new_tokens="1500", temperature="0", terminal_stream=stream)
    expect_working(chat, "you> ")
    chat.sendline("tell me a long story")
    sent = time.monotonic()
    expect_working(chat, "bot> ")
    first_shown = time.monotonic()
    expect_working(chat, "\r\nyou> ")  # the reply's line ends (it may hold line breaks)
    line_done = time.monotonic()
    shown = chat.before.replace("\r\n", "\n")
    with store_of(tmp_path).engine.connect() as conn:
        completion = conn.execute(select(turns.c.completion)).scalar_one()
    assert shown.strip() == completion.strip() and len(completion) > 500
    if stream == "1":  # the reply grew on screen: most of the wait came after its first words
        assert line_done - first_shown > 3 * (first_shown - sent)
    else:  # printed whole: the wait was all before it
        assert line_done - first_shown < (first_shown - sent) / 3


def test_a_vote_typed_ahead_of_a_streamed_reply_is_recorded(spawn_chat: Spawn) -> None:
    """Lines typed (or pasted) while a reply streams are read the moment it ends. A piped
    session of the default model once had its vote refused there (Celery's result.get()
    "within a task": the reply's task was ending on another thread); the tiny model's
    timing seldom meets that race, so this guards the path, not the race."""
    chat = spawn_chat()
    expect_working(chat, "you> ")
    chat.sendline("hello")
    chat.sendline("/good")
    expect_working(chat, "👍 recorded")
    expect_working(chat, "you> ")


def test_ctrl_c_stops_a_reply_and_at_the_prompt_leaves(
    spawn_chat: Spawn, tmp_path: Path, endless_model: Path
) -> None:
    """Ctrl-C while a reply streams stops it: what it said so far is shown whole and kept
    (a stored reply, to rate or /retry), and the chat takes the next line. Ctrl-C at the
    prompt leaves. It used to raise KeyboardInterrupt wherever the chat was and abort the
    process ("terminate called without an active exception")."""
    chat = spawn_chat(endless_model, max_new_tokens="2000", temperature="0")
    expect_working(chat, "you> ")
    chat.sendline("tell me a long story")
    expect_working(chat, "bot> ")
    chat.sendintr()
    expect_working(chat, STOPPED)
    shown = chat.before.replace("^C", "").replace("\r\n", "\n").strip()
    expect_working(chat, "you> ")
    store = store_of(tmp_path)
    with store.engine.connect() as conn:
        stopped = conn.execute(select(turns.c.completion, turns.c.timings)).one()
    assert stopped.timings["new_tokens"] < 2000  # stopped, not run to its end
    assert shown == stopped.completion.strip()

    say(chat, "/bad", "👎 recorded")  # the stopped reply can be rated
    chat.sendline("and now a short one")
    expect_working(chat, "bot> ")
    expect_working(chat, "\r\nyou> ")
    answer = chat.before.replace("\r\n", "\n").strip()
    with store.engine.connect() as conn:
        completions = list(conn.scalars(select(turns.c.completion).order_by(turns.c.id)))
    assert [c.strip() for c in completions] == [shown, answer]
    assert STOPPED not in answer
    store.engine.dispose()
    leave(chat, "ctrl-c")


def test_ctrl_c_pressed_twice_in_a_reply_leaves(spawn_chat: Spawn, endless_model: Path) -> None:
    """The second press leaves, whether it comes while the reply is stopping or at the
    prompt (two presses close together may reach the process as one signal)."""
    chat = spawn_chat(endless_model, max_new_tokens="2000", temperature="0")
    expect_working(chat, "you> ")
    chat.sendline("tell me a long story")
    expect_working(chat, "bot> ")
    chat.sendintr()
    chat.sendintr()
    if expect_working(chat, [pexpect.EOF, "you> "]) == 1:
        interrupt_at_prompt(chat)  # both were taken as one: this is the prompt's
        expect_working(chat, pexpect.EOF)
    closed_cleanly(chat)


def test_with_a_broker_and_no_gpu_worker_the_chat_says_so_and_keeps_the_message(
    spawn_chat: Spawn, worker_broker: str, tiny_model: Path, tmp_path: Path
) -> None:
    """It used to wait reply_timeout_s (5 minutes) in silence. Ctrl-C stops waiting
    without a traceback; the message stays queued and is answered once workers start."""
    database_url = f"sqlite:///{tmp_path / 'data' / 'replyloop.sqlite3'}"
    chat = spawn_chat(broker_url=worker_broker, database_url=database_url)
    expect_working(chat, "you> ")
    chat.sendline("is anyone there?")
    expect_working(chat, NO_GPU_WORKER)
    chat.sendintr()
    expect_working(chat, STOPPED_WAITING)
    expect_working(chat, "you> ")

    env = worker_env(worker_broker, database_url, tiny_model, tmp_path, max_new_tokens="6")
    started = start_workers(env, tmp_path)
    try:
        chat.sendline("and now?")
        expect_working(chat, "bot (late reply)> ")  # the kept message, answered first
        expect_working(chat, "bot> ")
        expect_working(chat, "you> ")
        assert NO_GPU_WORKER not in chat.before
    finally:
        started.stop()
    leave(chat, "ctrl-c")
