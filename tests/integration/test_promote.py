"""`replyloop model promote` and `rollback` change the model that running gpu workers
answer with, without a restart; every Turn records the version that made it.

The workers (real `replyloop worker gpu` and `io`, once per database backend) are shared by
this module's tests; each ends with nothing promoted, as it began.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.integration.conftest import Chat
from tests.integration.workers import Workers, replyloop
from workers.models import folder_version
from workers.serving import CHECK_EVERY_S
from workers.tiny_model import make_tiny_model


def model(chat: Chat, *args: str, cwd: Path) -> str:
    """`replyloop model ARGS` on the workers' broker and database; what it printed."""
    done: subprocess.CompletedProcess[str] = replyloop(
        "model", *args, env=chat.workers.env, cwd=cwd
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def answered_by(chat: Chat, text: str) -> str:
    """The model version of the reply to `text`, sent once the gpu worker's view of the
    registry is stale: it last looked when it made the previous reply, and looks again
    before a batch once CHECK_EVERY_S has passed."""
    time.sleep(CHECK_EVERY_S + 0.1)
    chat.say(text)
    return chat.turn().model_version


def test_promote_changes_the_version_a_running_worker_uses(
    chat: Chat, tiny_model: Path, tmp_path: Path
) -> None:
    default = folder_version(tiny_model)
    chat.say("hello")
    assert chat.turn().model_version == default

    other = make_tiny_model(tmp_path / "tiny-promoted", seed=1)
    version = folder_version(other)
    assert version != default
    said = model(chat, "register", str(other), "--kind", "sft", "--parent", default, cwd=tmp_path)
    assert said.startswith(f"registered {version} (sft)")
    said = model(chat, "promote", version, cwd=tmp_path)
    assert said.startswith(f"promoted {version} (was REPLYLOOP_MODEL")

    assert answered_by(chat, "what is the capital of France?") == version
    assert answered_by(chat, "and of Italy?") == version  # it stays

    said = model(chat, "rollback", cwd=tmp_path)
    assert said.startswith(f"rolled back: {version} -> REPLYLOOP_MODEL")
    assert answered_by(chat, "thanks") == default


def test_a_promoted_model_whose_folder_is_gone_leaves_the_worker_on_its_model(
    chat: Chat, workers: Workers, tiny_model: Path, tmp_path: Path
) -> None:
    default = folder_version(tiny_model)
    gpu = next(w for w in workers.workers if w.queue == "gpu")
    since = gpu.log.stat().st_size
    gone = make_tiny_model(tmp_path / "tiny-gone", seed=2)
    version = folder_version(gone)
    model(chat, "register", str(gone), "--kind", "ppo", cwd=tmp_path)
    model(chat, "promote", version, cwd=tmp_path)
    shutil.rmtree(gone)  # e.g. promoted before the copy reached this machine, or deleted

    assert answered_by(chat, "hello") == default
    assert answered_by(chat, "still there?") == default
    log = gpu.text(since)
    assert log.count(f"cannot load model {version} from {gone}") == 1, log  # once, not per batch
    assert f"still serving {default}" in log
    assert gpu.process.poll() is None

    said = model(chat, "rollback", cwd=tmp_path)
    assert said.startswith(f"rolled back: {version} -> REPLYLOOP_MODEL")
    assert answered_by(chat, "bye") == default
