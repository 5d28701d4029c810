"""`replyloop model ...` as a person runs it: a subprocess on a real database, what it
prints, and one line (exit 2) for each refusal."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from core.store import open_store, registry
from tests.integration.test_cli import one_line
from tests.integration.workers import clean_env, replyloop
from workers.models import folder_version


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(database_url=db_url, data_dir=str(tmp_path / "data"), model="my-default")


def ok(done: subprocess.CompletedProcess[str]) -> str:
    """What a command that succeeded printed."""
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def test_register_list_show_promote_rollback(
    env: dict[str, str], db_url: str, tiny_model: Path, tmp_path: Path
) -> None:
    base = folder_version(tiny_model)
    said = ok(replyloop("model", "register", str(tiny_model), env=env, cwd=tmp_path))
    assert said == f"registered {base} (local) at {tiny_model}\n"
    copy = shutil.copytree(tiny_model, tmp_path / "sft-out")
    args = ("model", "register", str(copy), "--kind", "sft", "--parent", base, "--version", "sft-1")
    ok(replyloop(*args, env=env, cwd=tmp_path))
    assert "is registered already" in ok(replyloop(*args, env=env, cwd=tmp_path))
    store = open_store(db_url)
    registry.register(store, version="sft-2", kind="sft", path=copy, metrics={"eval_loss": 1.5})

    said = ok(replyloop("model", "promote", "sft-1", env=env, cwd=tmp_path))
    assert said.startswith("promoted sft-1 (was REPLYLOOP_MODEL (my-default))")
    assert ok(replyloop("model", "promote", "sft-1", env=env, cwd=tmp_path)) == (
        "sft-1 is promoted already\n"
    )
    listed = ok(replyloop("model", "list", env=env, cwd=tmp_path)).splitlines()
    assert listed[0].split() == ["version", "kind", "parent", "created", "metrics"]
    rows = {line[2:].split()[0]: line for line in listed[1:-1]}
    assert list(rows) == [base, "sft-1", "sft-2"]
    assert rows["sft-1"].startswith("* sft-1") and rows["sft-1"].split()[3] == base
    assert not rows[base].startswith("*") and rows["sft-2"].endswith("eval_loss=1.5")
    assert listed[-1] == "* promoted: gpu workers serve sft-1"

    shown = json.loads(ok(replyloop("model", "show", "sft-1", env=env, cwd=tmp_path)))
    assert shown["promoted"] is True and shown["parent"] == base and shown["kind"] == "sft"
    assert shown["path"] == str(copy) and shown["turns"] == 0
    assert shown["votes"] == {"up": 0, "down": 0} and shown["approval"] is None

    ok(replyloop("model", "promote", "sft-2", env=env, cwd=tmp_path))
    said = ok(replyloop("model", "rollback", env=env, cwd=tmp_path))
    assert said == "rolled back: sft-2 -> sft-1\n"
    said = ok(replyloop("model", "rollback", env=env, cwd=tmp_path))
    assert said == "rolled back: sft-1 -> REPLYLOOP_MODEL (my-default)\n"
    assert registry.promoted(store) is None
    store.engine.dispose()


def test_refusals_are_one_line(sqlite_url: str, tiny_model: Path, tmp_path: Path) -> None:
    """(SQLite only: the refusals come from the same queries test_registry runs on both.)"""
    env = clean_env(database_url=sqlite_url, data_dir=str(tmp_path / "data"))

    def refused(*args: str) -> str:
        return one_line(replyloop("model", *args, env=env, cwd=tmp_path))

    assert "no model 'nope' is registered" in refused("show", "nope")
    assert "no model 'nope' is registered" in refused("promote", "nope")
    assert "nothing to roll back" in refused("rollback")
    assert "has no config.json" in refused("register", str(tmp_path))

    gone = shutil.copytree(tiny_model, tmp_path / "gone")
    ok(replyloop("model", "register", str(gone), "--version", "gone-1", env=env, cwd=tmp_path))
    other = shutil.copytree(tiny_model, tmp_path / "other")
    line = refused("register", str(other), "--version", "gone-1")
    assert f"'gone-1' is registered with the folder {gone}, not {other}" in line
    shutil.rmtree(gone)
    assert f"gone-1's folder {gone} has no config.json here" in refused("promote", "gone-1")
    ok(
        replyloop(
            "model",
            "register",
            str(other),
            "--kind",
            "rm",
            "--version",
            "rm-1",
            env=env,
            cwd=tmp_path,
        )
    )
    assert "'rm-1' is a reward model" in refused("promote", "rm-1")
    assert "nothing to roll back" in refused("rollback")  # the refused promotions left none


def test_canary_refusals_are_one_line(sqlite_url: str, tiny_model: Path, tmp_path: Path) -> None:
    env = clean_env(database_url=sqlite_url, data_dir=str(tmp_path / "data"))

    def refused(*args: str) -> str:
        return one_line(replyloop("model", "canary", *args, env=env, cwd=tmp_path))

    assert "no canary runs" in refused("stop")
    assert "no canary has run" in ok(replyloop("model", "canary", "status", env=env, cwd=tmp_path))
    assert "no model 'nope' is registered" in refused("nope")
    copy = shutil.copytree(tiny_model, tmp_path / "canary")
    ok(replyloop("model", "register", str(copy), "--version", "c-1", env=env, cwd=tmp_path))
    assert "nothing has answered yet" in refused("c-1")  # no incumbent to compare with
    ok(replyloop("model", "register", str(copy), "--version", "d-1", env=env, cwd=tmp_path))
    ok(replyloop("model", "promote", "d-1", env=env, cwd=tmp_path))
    assert "1 to 99 percent" in refused("c-1", "--share", "100")
    assert "alpha must be between 0 and 1" in refused("c-1", "--alpha", "2")
    assert "serves already" in refused("d-1")
    started = ok(replyloop("model", "canary", "c-1", "--share", "10", env=env, cwd=tmp_path))
    assert started.startswith("canary c-1: 10% of new conversations")
    assert "runs already" in refused("c-1")
    status = ok(replyloop("model", "canary", "status", env=env, cwd=tmp_path))
    assert "canary c-1 on 10% of new conversations" in status and "state: collecting" in status
    assert "stopped the canary of c-1" in ok(
        replyloop("model", "canary", "stop", env=env, cwd=tmp_path)
    )
