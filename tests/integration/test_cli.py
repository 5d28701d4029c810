"""`replyloop` as a person runs it: a subprocess, real services, what it prints."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from core.store import open_store, registry
from core.types import ChatMessage, Vote
from tests.integration.workers import clean_env, replyloop, replyloop_command

DEAD_BROKER = "redis://:pw@127.0.0.1:1/0"
DEAD_DATABASE = "postgresql+psycopg://u:pw@127.0.0.1:1/x"


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command says: exit 2, no traceback."""
    lines = done.stderr.splitlines()
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("replyloop: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    return lines[0]


def test_config_masks_passwords_and_the_rater_secret(tmp_path: Path) -> None:
    env = clean_env(
        database_url="postgresql+psycopg://bot:db-s3cret@127.0.0.1:5432/replyloop",
        broker_url="redis://:broker-s3cret@127.0.0.1:6379/0",
        rater_secret="rater-s3cret",
        data_dir=str(tmp_path / "data"),
    )
    env |= {"SLACK_BOT_TOKEN": "xoxb-s3cret", "REPLYLOOP_WECOM_SECRET": "wecom-s3cret"}
    env |= {"TELEGRAM_API_URL": "http://bot:api-s3cret@127.0.0.1:8081/bot"}
    done = replyloop("config", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["database_url"] == "postgresql+psycopg://bot:***@127.0.0.1:5432/replyloop"
    assert shown["broker_url"] == "redis://:***@127.0.0.1:6379/0"
    assert shown["rater_secret"] == "***"
    assert shown["mode"] == "distributed (Celery)"
    # Each platform's settings are in the one view, masked the same way.
    assert (shown["slack_bot_token"], shown["wecom_secret"]) == ("***", "***")
    assert shown["telegram_api_url"] == "http://bot:***@127.0.0.1:8081/bot"
    assert (shown["slack_stream"], shown["telegram_admins"], shown["wecom_agent_id"]) == (
        True,
        "",
        None,
    )
    assert "s3cret" not in done.stdout + done.stderr


def test_feedback_stats_on_an_empty_store(db_url: str, tmp_path: Path) -> None:
    env = clean_env(database_url=db_url, data_dir=str(tmp_path / "data"))
    done = replyloop("feedback", "stats", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header, *rest = done.stdout.splitlines()
    assert header.split() == ["model", "version", "turns", "👍", "👎", "approval"]
    assert rest == ["(no replies stored yet)"]


@pytest.mark.parametrize("command", [("feedback", "stats"), ("worker", "gpu")])
def test_unreachable_broker_is_one_masked_line(command: tuple[str, ...], tmp_path: Path) -> None:
    env = clean_env(broker_url=DEAD_BROKER, data_dir=str(tmp_path / "data"))
    line = one_line(replyloop(*command, env=env, cwd=tmp_path))
    assert "cannot reach the broker at redis://:***@127.0.0.1:1/0" in line
    assert "pw" not in line


@pytest.mark.parametrize("command", [("feedback", "stats"), ("worker", "gpu")])
def test_unreachable_database_is_one_masked_line(
    command: tuple[str, ...], redis_url: str, tmp_path: Path
) -> None:
    # The worker needs a broker that answers (PING only) to get as far as the database.
    broker = {"broker_url": redis_url} if command[0] == "worker" else {}
    env = clean_env(database_url=DEAD_DATABASE, data_dir=str(tmp_path / "data"), **broker)
    line = one_line(replyloop(*command, env=env, cwd=tmp_path))
    assert "cannot reach the database at postgresql+psycopg://u:***@127.0.0.1:1/x" in line
    assert "pw" not in line


def test_worker_io_without_a_broker_is_one_line(tmp_path: Path) -> None:
    env = clean_env(data_dir=str(tmp_path / "data"))
    line = one_line(replyloop("worker", "io", env=env, cwd=tmp_path))
    assert "a worker needs a broker: set REPLYLOOP_BROKER_URL" in line


SETTINGS_COMMANDS = [
    ("chat",),
    ("worker", "gpu"),
    ("serve", "slack"),
    ("feedback", "stats"),
    ("feedback", "export", "--out", "out.jsonl"),
    ("model", "list"),
    ("train", "sft", "--out", "run"),
    ("config",),
    ("db", "current"),
]


@pytest.mark.parametrize("command", SETTINGS_COMMANDS, ids=" ".join)
def test_a_bad_setting_is_one_line_for_every_command(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    env = clean_env(temperature="hot", data_dir=str(tmp_path / "data"))
    line = one_line(replyloop(*command, env=env, cwd=tmp_path))
    assert (
        line
        == "replyloop: REPLYLOOP_TEMPERATURE='hot' is not valid: a number from 0 to 5 is expected"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # nothing made


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("REPLYLOOP_MAX_BATCH", "0", "a whole number from 1 to 512 is expected"),
        ("REPLYLOOP_TOP_P", "1.5", "a number > 0 and <= 1 is expected"),
        ("REPLYLOOP_TERMINAL_STREAM", "maybe", "true or false is expected"),
        ("REPLYLOOP_STOP", '["\\nUser:"', "a JSON list of texts"),
        ("WECOM_AGENT_ID", "one", "a whole number is expected"),
        ("REPLYLOOP_WECOM_AGENT_ID", "one", "a whole number is expected"),
        ("REPLYLOOP_WECOM_STREAM_LIMIT_S", "0", "a number > 0 is expected"),
        ("REPLYLOOP_TELEGRAM_STREAM_GROUP_EVERY_S", "0.1", "a number >= 0.25 is expected"),
        ("REPLYLOOP_TELEGRAM_STREAM", "maybe", "true or false is expected"),
        ("REPLYLOOP_SLACK_STREAM_EVERY_S", "0", "a number >= 0.25 is expected"),
        ("REPLYLOOP_DATABASE_URL", "mysql://bot:pw@127.0.0.1/rl", "sqlite (sqlite:///"),
    ],
)
def test_a_bad_setting_names_the_variable_its_value_and_what_is_allowed(
    variable: str, value: str, expected: str, tmp_path: Path
) -> None:
    env = {**clean_env(data_dir=str(tmp_path / "data")), variable: value}
    line = one_line(replyloop("feedback", "stats", env=env, cwd=tmp_path))
    shown = value.replace(":pw@", ":***@")  # a URL's password is never printed
    assert line.startswith(f"replyloop: {variable}={shown!r} is not valid: "), line
    assert expected in line


def test_a_bad_setting_in_dotenv_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REPLYLOOP_MAX_NEW_TOKENS=lots\n")
    done = replyloop("config", env=clean_env(data_dir=str(tmp_path / "data")), cwd=tmp_path)
    assert one_line(done) == (
        "replyloop: REPLYLOOP_MAX_NEW_TOKENS='lots' is not valid: a whole number from 1 to "
        "4096 is expected"
    )


def test_plain_text_stop_is_one_stop_sequence(tmp_path: Path) -> None:
    env = clean_env(stop="\\nUser:", data_dir=str(tmp_path / "data"))
    done = replyloop("config", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["stop"] == ["\nUser:"]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_urls_as_hosts_hand_them_out(
    scheme: str, fresh_pg_url: str, tmp_path: Path
) -> None:
    given = fresh_pg_url.replace("postgresql+psycopg://", f"{scheme}://")
    env = clean_env(database_url=given, data_dir=str(tmp_path / "data"))
    done = replyloop("feedback", "stats", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "(no replies stored yet)"
    engine = create_engine(fresh_pg_url)  # the command made the schema in that database
    try:
        assert "turns" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_export_since_not_a_date_is_one_line(tmp_path: Path) -> None:
    env = clean_env(data_dir=str(tmp_path / "data"))
    out = tmp_path / "out.jsonl"
    done = replyloop(
        "feedback", "export", "--since", "notadate", "--out", str(out), env=env, cwd=tmp_path
    )
    assert "--since 'notadate' is not a date" in one_line(done)
    assert not out.exists()


BUILT_IN = "smollm2-135m-instruct-q4_1"  # serves replies without being registered


def test_export_of_an_unknown_model_version_is_one_line(sqlite_url: str, tmp_path: Path) -> None:
    store = open_store(sqlite_url)
    conversation = store.open_conversation("slack", "C1")
    asked = store.add_message(conversation, "U_alice", "hello")
    prompt: list[ChatMessage] = [{"role": "user", "content": "hello"}]
    turn = store.add_turn(conversation, asked, "k1", prompt, "hi!", BUILT_IN, {}, {})
    store.vote(turn.id, "U_alice", Vote.UP, "reaction")
    registry.register(store, version="sft-1234", kind="sft", path=tmp_path / "sft")
    store.engine.dispose()
    env = clean_env(database_url=sqlite_url, data_dir=str(tmp_path / "data"))
    out = tmp_path / "out.jsonl"

    def export(version: str) -> subprocess.CompletedProcess[str]:
        return replyloop(
            "feedback", "export", "--model-version", version, "--out", str(out),
            env=env, cwd=tmp_path,
        )  # fmt: skip

    line = one_line(export("nope"))
    assert line.startswith("replyloop: --model-version 'nope' is unknown"), line
    assert line.endswith(f"(known: sft-1234, {BUILT_IN})"), line
    assert not out.exists()
    served = export(BUILT_IN)  # known from its replies alone
    assert served.returncode == 0, served.stderr
    assert len(out.read_text().splitlines()) == 1
    registered = export("sft-1234")  # known, though nothing it said was rated yet
    assert registered.returncode == 0, registered.stderr
    assert out.read_text() == ""


def test_export_of_a_model_version_in_an_empty_store_is_one_line(tmp_path: Path) -> None:
    env = clean_env(data_dir=str(tmp_path / "data"))
    out = tmp_path / "out.jsonl"
    done = replyloop(
        "feedback", "export", "--model-version", "v1", "--out", str(out), env=env, cwd=tmp_path
    )
    assert "'v1' is unknown" in one_line(done) and "no replies are stored" in one_line(done)
    assert not out.exists()


def _open_store_at(url: str, start: Barrier, results: multiprocessing.Queue[str]) -> None:
    """What each worker does first (replyloop.bootstrap): open the store, migrating it."""
    from core.errors import ServiceUnavailable
    from core.store import open_store

    start.wait(timeout=30)
    try:
        open_store(url).engine.dispose()
        results.put("ok")
    except ServiceUnavailable as exc:
        results.put(str(exc))


def test_two_processes_can_open_a_fresh_sqlite_store_at_once(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    for attempt in range(3):  # a race: the barrier makes it near certain, three tries sure
        url = f"sqlite:///{tmp_path / f'fresh-{attempt}.sqlite3'}"
        start, results = spawn.Barrier(2), spawn.Queue()
        processes = [
            spawn.Process(target=_open_store_at, args=(url, start, results)) for _ in range(2)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        assert outcomes == ["ok", "ok"]


def test_serve_wecom_says_which_settings_are_missing(tmp_path: Path) -> None:
    env = clean_env(data_dir=str(tmp_path / "data"))
    nothing = one_line(replyloop("serve", "wecom", env=env, cwd=tmp_path))
    assert "WECOM_BOT_TOKEN" in nothing and "WECOM_SECRET" in nothing
    half_bot = {**env, "WECOM_BOT_TOKEN": "t"}
    assert "set WECOM_BOT_AES_KEY" in one_line(
        replyloop("serve", "wecom", env=half_bot, cwd=tmp_path)
    )
    bot_alone = {**half_bot, "WECOM_BOT_AES_KEY": "k" * 43}  # no broker: nothing to stream by
    assert "REPLYLOOP_BROKER_URL" in one_line(
        replyloop("serve", "wecom", env=bot_alone, cwd=tmp_path)
    )
    half_app = {**env, "WECOM_TOKEN": "t", "WECOM_CORP_ID": "ww1"}
    missing = one_line(replyloop("serve", "wecom", env=half_app, cwd=tmp_path))
    assert "WECOM_SECRET" in missing and "WECOM_AES_KEY" in missing


def test_console_users_are_made_and_refused_in_one_line(tmp_path: Path) -> None:
    env = clean_env(data_dir=str(tmp_path / "data"))

    def add(name: str, password: str, role: str = "viewer") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*replyloop_command(), "user", "add", name, "--role", role, "--password-stdin"],
            env=env, cwd=tmp_path, input=password + "\n", capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    made = add("ann", "long-enough-1", "admin")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("user ann (admin) made")
    for name, password, said in (
        ("ann", "long-enough-2", "replyloop: user 'ann' exists already"),
        ("bo b", "long-enough-2", "replyloop: user name 'bo b': 1-64 letters"),
        ("bob", "short", "replyloop: a password needs at least 8 characters"),
    ):
        refused = add(name, password)
        assert refused.returncode == 2
        assert refused.stderr.startswith(said) and refused.stderr.count("\n") == 1, refused.stderr
    listed = replyloop("user", "list", env=env, cwd=tmp_path)
    assert listed.stdout == "ann\tadmin\n"
