"""What the real commands print where nothing long happens: no progress bar for loading a
model that is ready (it takes well under a second), no table with terminal colour codes for
the reward head a reward model starts without, no Celery advice for a JSON-only worker run
as root (these tests run as root in CI's container; elsewhere that check holds trivially)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.training_fixtures import exported_vote
from tests.integration.workers import (
    clean_env,
    replyloop,
    replyloop_command,
    start_workers,
    worker_env,
)
from workers.models import BUILTIN_VERSION, folder_version

CHAT_TIMEOUT_S = 300.0  # start-up is seconds; generous, the machine may be loaded
TRAIN_TIMEOUT_S = 600.0


def chat_quit(env: dict[str, str], cwd: Path) -> str:
    """`echo /quit | replyloop chat`: start, show the prompt, leave; everything it printed."""
    done = subprocess.run(
        [*replyloop_command(), "chat"],
        input="/quit\n",
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CHAT_TIMEOUT_S,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "replyloop chat, model " in said, said
    return said


def test_chat_start_shows_no_loading_bar(tmp_path: Path, tiny_model: Path) -> None:
    env = clean_env(
        data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), model=str(tiny_model)
    )
    said = chat_quit(env, tmp_path)
    assert "Loading weights" not in said, said
    assert "it/s]" not in said, said  # no other progress bar either


def test_train_rm_says_the_new_reward_head_in_one_plain_line(
    tmp_path: Path, tiny_model: Path, sqlite_url: str
) -> None:
    votes = tmp_path / "votes.kto.jsonl"
    rows = [
        exported_vote(i, [{"role": "user", "content": f"hello {i}"}], f"reply {i}", [i % 2 or -1])
        for i in range(16)
    ]
    votes.write_text("".join(json.dumps(row) + "\n" for row in rows))
    env = clean_env(database_url=sqlite_url, data_dir=str(tmp_path / "data"))
    done = replyloop(
        "train", "rm", "--base", str(tiny_model), "--out", str(tmp_path / "rm"),
        "--votes", str(votes), "--max-steps", "1", "--batch-size", "4",
        env=env, cwd=tmp_path, timeout=TRAIN_TIMEOUT_S,
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-3000:]
    assert "LOAD REPORT" not in said and "MISSING" not in said, said[-3000:]
    assert "\x1b[1m" not in said, said[-3000:]  # no raw terminal colour codes in a log
    head = [line for line in said.splitlines() if "reward head" in line]
    assert head == [
        f"the reward head (score.weight) is new: initialised at random over {tiny_model}"
    ]


def test_gpu_worker_as_root_says_no_superuser_warning(
    tmp_path: Path, tiny_model: Path, worker_broker: str
) -> None:
    env = worker_env(worker_broker, f"sqlite:///{tmp_path / 'db.sqlite3'}", tiny_model, tmp_path)
    started = start_workers(env, tmp_path)
    try:
        log = started.logs()
    finally:
        started.stop()
    assert "gpu@" in log
    assert "superuser privileges" not in log and "SecurityWarning" not in log, log
    # The model it loaded is registered (by the first worker to serve it).
    listed = replyloop("model", "list", env=env, cwd=tmp_path)
    assert f"{folder_version(tiny_model)} local" in " ".join(listed.stdout.split()), listed


def test_the_model_a_chat_serves_is_registered(tmp_path: Path, tiny_model: Path) -> None:
    """REPLYLOOP_MODEL joins the registry when it first serves (a folder: kind local)."""
    version = folder_version(tiny_model)
    env = clean_env(
        data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), model=str(tiny_model)
    )
    before = replyloop("model", "show", version, env=env, cwd=tmp_path)
    assert before.returncode == 2  # nothing served yet
    assert f"no model {version!r} is registered" in before.stderr

    chat_quit(env, tmp_path)
    listed = replyloop("model", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:2] for line in listed.stdout.splitlines()[1:-1]] == [[version, "local"]]
    shown = replyloop("model", "show", version, env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert (record["kind"], record["path"], record["turns"]) == ("local", str(tiny_model), 0)

    chat_quit(env, tmp_path)  # a second start finds it there
    again = replyloop("model", "list", env=env, cwd=tmp_path)
    assert again.stdout == listed.stdout


@pytest.mark.slow
def test_the_builtin_model_converts_with_progress_once_then_loads_quietly_and_is_registered(
    tmp_path: Path,
) -> None:
    env = clean_env(data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"))
    first = chat_quit(env, tmp_path)  # a fresh cache: the GGUF is converted, with its bar
    assert "Converting SmolLM2-135M-Instruct.Q4_1.gguf once" in first
    assert "Converting and de-quantizing GGUF tensors" in first

    second = chat_quit(env, tmp_path)
    assert "Converting" not in second and "Loading weights" not in second, second

    shown = replyloop("model", "show", BUILTIN_VERSION, env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    converted = tmp_path / "cache" / "models" / "smollm2-135m-instruct"
    assert (record["kind"], record["path"]) == ("builtin", str(converted))
