"""A reply that cannot be made is said to the person, not left hanging; the message stays."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import select

from core.store import open_store
from core.store.schema import messages, turns
from tests.integration.workers import clean_env, replyloop_command


def without_chat_template(model: Path, out: Path) -> Path:
    """The tiny model as a base model: no chat template (a common misconfiguration)."""
    shutil.copytree(model, out)
    (out / "chat_template.jinja").unlink(missing_ok=True)
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    return out


def test_a_failed_generation_tells_the_chat_and_keeps_the_message(
    tiny_model: Path, tmp_path: Path
) -> None:
    model = without_chat_template(tiny_model, tmp_path / "base-model")
    env = clean_env(data_dir=str(tmp_path / "data"), model=str(model), reply_timeout_s="30")
    chat = subprocess.run(
        [*replyloop_command(), "chat"],
        input="hello there\n/good\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert chat.returncode == 0, chat.stderr
    assert "Sorry, no reply could be made (ValueError)" in chat.stdout
    assert "No reply to rate yet." in chat.stdout  # no Turn was made to rate
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'replyloop.sqlite3'}")
    with store.engine.connect() as conn:
        assert conn.execute(select(messages.c.text)).scalars().all() == ["hello there"]
        assert conn.execute(select(turns.c.id)).first() is None
    store.engine.dispose()
