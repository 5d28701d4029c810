"""A reply that cannot be made is said to the person, not left hanging; the message stays."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from core.store import open_store
from core.store.schema import messages, turns
from tests.integration.workers import clean_env, replyloop, replyloop_command

REFUSING_TEMPLATE = "{{ raise_exception('this template refuses every conversation') }}"


def with_chat_template(model: Path, out: Path, template: str | None) -> Path:
    """A copy of the tiny model with another chat template, or none (a base model)."""
    shutil.copytree(model, out)
    (out / "chat_template.jinja").unlink(missing_ok=True)
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    if template is not None:
        config["chat_template"] = template
    config_path.write_text(json.dumps(config))
    return out


def chat_once(env: dict[str, str], cwd: Path, lines: str) -> subprocess.CompletedProcess[str]:
    """`replyloop chat` fed `lines`, to its end."""
    return subprocess.run(
        [*replyloop_command(), "chat"],
        input=lines,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_kept_unanswered(tmp_path: Path, text: str) -> None:
    """The chat's store holds the message `text` alone, and no reply to it."""
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'replyloop.sqlite3'}")
    with store.engine.connect() as conn:
        assert conn.execute(select(messages.c.text)).scalars().all() == [text]
        assert conn.execute(select(turns.c.id)).first() is None
    store.engine.dispose()


def test_a_model_without_a_chat_template_is_refused_at_start(
    tiny_model: Path, tmp_path: Path
) -> None:
    model = with_chat_template(tiny_model, tmp_path / "base-model", None)
    env = clean_env(data_dir=str(tmp_path / "data"), model=str(model))
    chat = replyloop("chat", env=env, cwd=tmp_path, timeout=120)
    assert chat.returncode == 2, chat.stderr
    lines = chat.stderr.strip().splitlines()
    assert len(lines) == 1 and "has no chat template" in lines[0] and str(model) in lines[0]
    assert "Traceback" not in chat.stderr + chat.stdout


def test_a_failed_generation_tells_the_chat_and_keeps_the_message(
    tiny_model: Path, tmp_path: Path
) -> None:
    """Generation that fails (here: a template that refuses) says so in the chat, logs the
    traceback to the chat's log file, not to the screen, and keeps the message."""
    model = with_chat_template(tiny_model, tmp_path / "refusing-model", REFUSING_TEMPLATE)
    env = clean_env(data_dir=str(tmp_path / "data"), model=str(model), reply_timeout_s="30")
    chat = chat_once(env, tmp_path, "hello there\n/good\n")
    assert chat.returncode == 0, chat.stderr
    assert "Sorry, no reply could be made (TemplateError)" in chat.stdout
    assert "No reply to rate yet." in chat.stdout  # no Turn was made to rate
    assert "Traceback" not in chat.stdout + chat.stderr
    log = (tmp_path / "data" / "chat.log").read_text()
    assert "refuses every conversation" in log and "Traceback" in log
    assert_kept_unanswered(tmp_path, "hello there")


def test_a_reply_too_big_for_the_memory_budget_is_refused_in_words(
    tiny_model: Path, tmp_path: Path
) -> None:
    """A reply that could not fit in the KV cache budget (here 1 MiB: 4,096 tokens of the
    tiny model, less than the prompt plus 4,096 new tokens) is refused with a reply that
    says why, at once, and the message is kept; no out-of-memory crash."""
    env = clean_env(
        data_dir=str(tmp_path / "data"),
        model=str(tiny_model),
        kv_cache_mb="1",
        max_new_tokens="4096",
        reply_timeout_s="30",
    )
    chat = chat_once(env, tmp_path, "hello there\n")
    assert chat.returncode == 0, chat.stderr
    assert "This conversation is too long for the model's memory on this worker" in chat.stdout
    assert "at most 4096)" in chat.stdout
    assert "Traceback" not in chat.stdout + chat.stderr
    assert_kept_unanswered(tmp_path, "hello there")


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_a_gpu_worker_refuses_a_model_without_a_chat_template(
    tiny_model: Path, tmp_path: Path, redis_url: str, pool: str
) -> None:
    model = with_chat_template(tiny_model, tmp_path / "base-model", None)
    env = clean_env(broker_url=redis_url, data_dir=str(tmp_path / "data"), model=str(model))
    worker = replyloop("worker", "gpu", "--pool", pool, env=env, cwd=tmp_path, timeout=120)
    assert worker.returncode == 2, worker.stderr
    assert "has no chat template" in worker.stderr and "Traceback" not in worker.stderr
