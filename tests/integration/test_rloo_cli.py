"""`replyloop train rloo` as a person runs it, on a tiny real model and a real database:
prompts from a kto export, a reward model from `train rm`, two RLOO steps, registered
with its lineage, then `replyloop eval` (with another reward model as the judge) and
`replyloop model promote` on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.store import open_store, registry
from tests.integration.test_cli import one_line
from tests.integration.test_train_cli import TIMEOUT_S, evaluate, ok, train, votes_file
from tests.integration.workers import clean_env, replyloop
from workers.models import folder_version


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(database_url=sqlite_url, data_dir=str(tmp_path / "data"))


def test_rloo_trains_registers_evaluates_promotes(
    env: dict[str, str], sqlite_url: str, tiny_model: Path, tmp_path: Path
) -> None:
    votes = votes_file(tmp_path / "votes.kto.jsonl")
    runs = tmp_path / "runs"
    for name, seed in (("rm", "0"), ("judge", "1")):
        train(
            env, tmp_path, "rm", "--base", str(tiny_model), "--votes", str(votes),
            "--out", str(runs / name), "--batch-size", "4", "--vote-epochs", "1",
            "--max-length", "96", "--held-out-percent", "20", "--seed", seed,
        )  # fmt: skip
    said = train(
        env, tmp_path, "rloo", "--policy", str(tiny_model), "--reward", str(runs / "rm"),
        "--prompts", str(votes), "--out", str(runs / "rloo"), "--max-steps", "2",
        "--batch-size", "4", "--num-generations", "2", "--max-new-tokens", "6",
        "--eval-prompts", "2", "--held-out-percent", "20", "--missing-eos-penalty", "1.0",
        "--logging-steps", "1",
    )  # fmt: skip
    assert "registered rloo-" in said and "replyloop model promote rloo-" in said

    store = open_store(sqlite_url)
    rloo = next(record for record in registry.list_models(store) if record.kind == "rloo")
    assert rloo.parent == folder_version(tiny_model) and rloo.path == str(runs / "rloo" / "model")
    assert [source["name"] for source in rloo.data] == [str(votes)]
    assert rloo.metrics["steps"] == 2
    # 16 one-turn conversations, a fifth held out by a stable hash.
    assert rloo.metrics["prompts"] + rloo.metrics["prompts_held_out"] == 16
    assert 0 < rloo.metrics["prompts_held_out"] < 16 and rloo.metrics["prompts_evaluated"] == 2
    assert {"reward", "kl", "eval_reward"} <= set(rloo.metrics)
    manifest = json.loads((runs / "rloo" / "run.json").read_text())
    assert manifest["held_out"] == {"percent": 20.0, "key": "conversation"}
    assert manifest["kind"] == "rloo" and manifest["settings"]["num_generations"] == 2
    assert manifest["reward_model"]["path"] == str((runs / "rm" / "model").absolute())
    logged = [
        json.loads(line) for line in (runs / "rloo" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [row["step"] for row in logged if "reward" in row] == [1, 2]

    # The reward model it trained against is refused as its judge; another one judges.
    refused = evaluate(env, tmp_path, runs / "rloo", tiny_model, runs / "rm", "--limit", "2")
    assert refused.returncode == 2 and "trained against" in one_line(refused)
    done = ok(evaluate(env, tmp_path, runs / "rloo", tiny_model, runs / "judge", "--limit", "2"))
    assert "win_rate" in done.stdout
    assert len((runs / "rloo" / "eval" / "samples.jsonl").read_text().splitlines()) == 2

    promoted = ok(replyloop("model", "promote", rloo.version, env=env, cwd=tmp_path))
    assert rloo.version in promoted.stdout
    assert registry.promoted(store) == rloo


def test_a_batch_that_splits_a_group_is_one_line(
    env: dict[str, str], tiny_model: Path, tmp_path: Path
) -> None:
    done = replyloop(
        "train", "rloo", "--policy", str(tiny_model), "--reward", str(tiny_model),
        "--out", str(tmp_path / "rloo"), "--batch-size", "6", "--num-generations", "4",
        env=env, cwd=tmp_path, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert "batch_size (6) must be a multiple of num_generations (4)" in one_line(done)
    assert not (tmp_path / "rloo").exists()
