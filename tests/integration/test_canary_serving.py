"""A canary as a person runs it: `replyloop model canary V --share 50` on real gpu and io
workers (PostgreSQL, Redis), new conversations answered by both models, simulated people
who vote, and the workers' own checks ending it: promoted when people prefer it, stopped
when they prefer the promoted model, stopped undecided at its sample limit when they like
both alike. No conversation changes model midway.

The people are seeded: each reply is liked with its model's approval.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.store import canaries, registry
from core.store.canaries import Canary
from core.types import Vote
from tests import services
from tests.integration.adapters import wait_for
from tests.integration.conftest import Chat
from tests.integration.workers import Workers, replyloop, start_workers, worker_env
from workers.models import folder_version
from workers.serving import CHECK_EVERY_S as SERVING_CHECK_S
from workers.tiny_model import make_tiny_model

CHECK_EVERY_S = "0.5"  # the workers look at the canary's votes this often
CONVERSATIONS_AT_ONCE = 8
MOST_CONVERSATIONS = 200  # a canary undecided after this many fails the test


@pytest.fixture(scope="module")
def workers(
    worker_broker: str,
    tiny_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
    pg_admin: Engine,
) -> Iterator[Workers]:
    """Real `replyloop worker gpu` and `io` on a PostgreSQL database of their own, looking
    at a canary's votes every CHECK_EVERY_S."""
    home = tmp_path_factory.mktemp("canary-workers")
    database_url = services.create_database(pg_admin)
    env = worker_env(
        worker_broker,
        database_url,
        tiny_model,
        home,
        max_new_tokens="4",
        reply_timeout_s="60",
        canary_check_every_s=CHECK_EVERY_S,
    )
    try:
        started = start_workers(env, home)
    except RuntimeError as exc:
        services.drop_database(pg_admin, database_url)
        pytest.fail(str(exc), pytrace=False)
    yield started
    started.stop()
    services.drop_database(pg_admin, database_url)


def model(chat: Chat, *args: str, cwd: Path) -> str:
    done = replyloop("model", *args, env=chat.workers.env, cwd=cwd)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def start_canary(chat: Chat, tmp_path: Path, seed: int, max_votes: int) -> str:
    """A new tiny model, registered and started as a canary on half the new conversations."""
    chat.say("hello")  # something has answered: the canary has an incumbent to beat
    chat.reply()
    path = make_tiny_model(tmp_path / f"canary-{seed}", seed=seed)
    version = folder_version(path)
    model(chat, "register", str(path), "--kind", "ppo", cwd=tmp_path)
    said = model(
        chat, "canary", version, "--share", "50", "--min-votes", "12",
        "--max-votes", str(max_votes), cwd=tmp_path,
    )  # fmt: skip
    assert said.startswith(f"canary {version}: 50% of new conversations"), said
    return version


Replies = dict[str, list[tuple[str, datetime]]]  # conversation -> (version, made at) a reply


def run_until_it_ends(chat: Chat, liked: dict[str, float], seed: int) -> tuple[Canary, Replies]:
    """New conversations, two messages each, every reply voted on by a person who likes it
    with its model's approval (`liked`, by version; others 0.5), until the canary ends.
    The canary as it ended, and each conversation's replies' versions."""
    people = random.Random(seed)
    versions: Replies = {}
    running = canaries.running(chat.store)
    assert running is not None
    while len(versions) < MOST_CONVERSATIONS:
        talks = [
            Chat(chat.workers, chat.store, chat.outbox, f"canary-{secrets.token_hex(6)}")
            for _ in range(CONVERSATIONS_AT_ONCE)
        ]
        for turn_of_talk in ("hello there", "tell me more"):
            for talk in talks:
                talk.say(turn_of_talk)
            for talk in talks:
                turn = talk.turn()
                versions.setdefault(talk.key, []).append((turn.model_version, turn.created_at))
                like = people.random() < liked.get(turn.model_version, 0.5)
                talk.vote(turn.id, f"person-{talk.key}", Vote.UP if like else Vote.DOWN)
        if canaries.running(chat.store) is None:
            break
        time.sleep(float(CHECK_EVERY_S))  # let a check see these votes before more come
    ended = canaries.history(chat.store)[-1]
    assert ended.id == running.id and ended.verdict is not None, "the canary never ended"
    return ended, versions


def assert_no_conversation_changed_model(versions: Replies, canary: Canary) -> None:
    """While the canary ran, every conversation talked to one model; both models talked."""
    assert canary.ended_at is not None
    for key, replies in versions.items():
        during = {version for version, made in replies if made < canary.ended_at}
        assert len(during) <= 1, (key, replies)
    firsts = {replies[0][0] for replies in versions.values()}
    assert {canary.version, canary.incumbent} <= firsts


def test_people_who_prefer_the_promoted_model_get_the_canary_stopped(
    chat: Chat, tmp_path: Path
) -> None:
    before = registry.promoted(chat.store)
    version = start_canary(chat, tmp_path, seed=11, max_votes=400)
    ended, versions = run_until_it_ends(chat, {version: 0.15}, seed=1)
    assert ended.verdict == "worse"
    assert registry.promoted(chat.store) == before  # nothing promoted, as before
    assert_no_conversation_changed_model(versions, ended)
    status = model(chat, "canary", "status", cwd=tmp_path)
    assert f"the last, of {version}, ended worse" in status


def test_people_who_like_both_alike_leave_it_undecided_until_its_limit(
    chat: Chat, tmp_path: Path
) -> None:
    version = start_canary(chat, tmp_path, seed=12, max_votes=40)
    ended, versions = run_until_it_ends(chat, {}, seed=2)
    assert ended.version == version and ended.verdict == "inconclusive"
    assert ended.figures is not None and ended.figures["canary"]["votes"] >= 40
    assert registry.promoted(chat.store) is None
    assert_no_conversation_changed_model(versions, ended)


def test_people_who_prefer_the_canary_get_it_promoted(chat: Chat, tmp_path: Path) -> None:
    version = start_canary(chat, tmp_path, seed=13, max_votes=400)
    ended, versions = run_until_it_ends(chat, {version: 0.9}, seed=3)
    assert ended.verdict == "better"
    # The worker that ended it promotes it next, in a transaction of its own.
    promoted = wait_for("the promotion", lambda: registry.promoted(chat.store))
    assert promoted.version == version
    assert_no_conversation_changed_model(versions, ended)
    # Every conversation gets it from the workers' next look at the registry on.
    time.sleep(SERVING_CHECK_S + 0.1)
    chat.say("and now?")
    assert chat.turn().model_version == version
    model(chat, "rollback", cwd=tmp_path)  # as the module began: nothing promoted
