"""The training loop as a person runs it, on a tiny real model: `replyloop train sft`,
`train rm` (chitchat pairs and a kto export), `train ppo`, `train kto`, `eval`, and
`model promote`, each a subprocess on a real database; and one line (exit 2) for each
refusal."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from core.store import open_store, registry
from tests.integration.test_cli import one_line
from tests.integration.training_fixtures import exported_vote
from tests.integration.workers import clean_env, replyloop
from workers.models import folder_version

TIMEOUT_S = 240.0
SMALL = ("--limit", "12", "--held-out-percent", "20")


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, (done.stdout, done.stderr[-3000:])
    return done


def votes_file(path: Path) -> Path:
    """A kto export as `replyloop feedback export --format kto` writes it."""
    rows = [
        exported_vote(
            i,
            [{"role": "user", "content": f"hello there {i}"}],
            "I am fine, thank you." if i % 2 else "the lazy dog",
            [1 if i % 2 else -1],
        )
        for i in range(16)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(database_url=sqlite_url, data_dir=str(tmp_path / "data"))


def train(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = ok(replyloop("train", *args, env=env, cwd=cwd, timeout=TIMEOUT_S))
    return done.stderr


def evaluate(
    env: dict[str, str], cwd: Path, policy: Path, baseline: Path, judge: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`replyloop eval` of a run on a few prompts with short replies, as tests afford."""
    return replyloop(
        "eval", "--policy", str(policy), "--baseline", str(baseline), "--reward", str(judge),
        "--max-new-tokens", "4", *args, env=env, cwd=cwd, timeout=TIMEOUT_S,
    )  # fmt: skip


def test_sft_rm_ppo_kto_eval_promote(
    env: dict[str, str], sqlite_url: str, tiny_model: Path, tmp_path: Path
) -> None:
    votes = votes_file(tmp_path / "votes.kto.jsonl")
    runs = tmp_path / "runs"
    said = train(
        env, tmp_path, "sft", "--base", str(tiny_model), "--out", str(runs / "sft"),
        "--data", "chitchat", "--data", str(votes), "--max-steps", "2", "--batch-size", "4",
        *SMALL,
    )  # fmt: skip
    assert "registered sft-" in said
    train(
        env, tmp_path, "rm", "--base", str(runs / "sft"), "--out", str(runs / "rm"),
        "--pairs", "chitchat", "--votes", str(votes), "--max-steps", "2", "--batch-size", "4",
        "--train-part", "a", *SMALL,
    )  # fmt: skip
    train(
        env, tmp_path, "ppo", "--policy", str(runs / "sft"), "--reward", str(runs / "rm"),
        "--out", str(runs / "ppo"), "--steps", "2", "--rollout-batch", "4", "--minibatch", "2",
        "--max-new-tokens", "4", "--prompts", "chitchat", "--prompts", str(votes), *SMALL,
    )  # fmt: skip
    train(
        env, tmp_path, "kto", "--policy", str(runs / "sft"), "--votes", str(votes),
        "--out", str(runs / "kto"), "--max-steps", "2", "--batch-size", "4",
        "--held-out-percent", "20",
    )  # fmt: skip

    store = open_store(sqlite_url)
    models = {record.kind: record for record in registry.list_models(store)}
    assert set(models) == {"sft", "rm", "ppo", "kto"}
    assert models["sft"].parent == folder_version(tiny_model)
    for kind in ("rm", "ppo", "kto"):
        assert models[kind].parent == models["sft"].version
    assert models["ppo"].path == str(runs / "ppo" / "model")
    assert models["ppo"].version.startswith("ppo-") and models["ppo"].version != models[
        "sft"
    ].version.replace("sft-", "ppo-")  # the digest is of the weights, not the config
    sft_data = {source["name"] for source in models["sft"].data}
    assert sft_data == {"chitchat-dataset==0.9.0", str(votes)}
    assert models["rm"].metrics["pairwise_accuracy"] >= 0.0
    assert models["ppo"].settings["rollout_batch"] == 4
    for kind in ("sft", "rm", "ppo", "kto"):
        manifest = json.loads((runs / kind / "run.json").read_text())
        assert manifest["held_out"] == {"percent": 20.0, "key": "conversation"}, kind

    # PPO's own reward model may not judge it: a judge trained with its own seed does.
    judged_by_own = (
        "eval", "--policy", str(runs / "ppo"), "--baseline", models["sft"].version,
        "--reward", models["rm"].version, "--limit", "6", "--max-new-tokens", "4",
    )  # fmt: skip
    refused = replyloop(*judged_by_own, env=env, cwd=tmp_path)
    assert f"--reward {models['rm'].version} is the reward model the policy was trained " in (
        one_line(refused)
    )
    train(
        env, tmp_path, "rm", "--base", str(runs / "sft"), "--out", str(runs / "judge"),
        "--pairs", "chitchat", "--max-steps", "2", "--batch-size", "4", "--seed", "7",
        "--train-part", "b", *SMALL,
    )  # fmt: skip
    judge = (*judged_by_own[:5], "--reward", str(runs / "judge"), *judged_by_own[7:])
    refused = replyloop(*judge, "--held-out-percent", "5", env=env, cwd=tmp_path)
    assert "--policy was trained with --held-out-percent 20, so held-out prompts at 5 %" in (
        one_line(refused)
    )
    assert not (runs / "ppo" / "eval").exists()
    # At the recorded 20 %, the default.
    done = ok(replyloop(*judge, env=env, cwd=tmp_path, timeout=TIMEOUT_S))
    assert "(independent: yes: trained on conversations disjoint" in done.stdout
    assert 'constant "ok"' in done.stdout
    assert re.search(r"win_rate: [\d.]+ \[[\d.]+, [\d.]+\]", done.stdout), done.stdout
    report = (runs / "ppo" / "eval" / "report.md").read_text()
    assert "| win_rate | " in report and "comparison.png" in report
    assert "judge's run: rm, data chitchat-dataset==0.9.0, seed 7" in report
    assert f"training RM's run: rm, data chitchat-dataset==0.9.0, {votes}, seed 0" in report
    summary = json.loads((runs / "ppo" / "eval" / "report.json").read_text())
    assert summary["sampling"]["conversations"] == 6  # six prompts, six conversations
    assert set(summary["kl_per_reply"]) == {"value", "low", "high"}
    assert (runs / "ppo" / "eval" / "comparison.png").stat().st_size > 1000
    assert "curve_reward.png" in report  # the PPO run's own curve
    samples = (runs / "ppo" / "eval" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 6

    promoted = ok(replyloop("model", "promote", models["ppo"].version, env=env, cwd=tmp_path))
    assert models["ppo"].version in promoted.stdout
    assert registry.promoted(store) == models["ppo"]


def test_refusals_are_one_line(env: dict[str, str], tiny_model: Path, tmp_path: Path) -> None:
    missing = replyloop(
        "train", "rm", "--base", str(tmp_path / "nowhere"), "--out", str(tmp_path / "rm"),
        env=env, cwd=tmp_path, timeout=TIMEOUT_S,
    )  # fmt: skip
    said = one_line(missing)
    assert "is not 'smollm2-135m-instruct', 'all-minilm-l6-v2', a registered version" in said
    assert not (tmp_path / "rm").exists()  # it made that folder: gone with the failure

    bad = tmp_path / "bad.kto.jsonl"
    bad.write_text('{"prompt": [], "completion": [], "label": true}\n')
    refused = replyloop(
        "train", "kto", "--policy", str(tiny_model), "--votes", str(bad),
        "--out", str(tmp_path / "kto"), env=env, cwd=tmp_path, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert f"{bad}:1: not a kto (vote) row" in one_line(refused)
    assert not (tmp_path / "kto").exists()


# As `feedback export --format kto` writes a row now (with its conversation, so it is split
# by conversation, without the warning an older file gets).
UP_ONLY = '{"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "hello"}], "label": true, "conversation_id": "c1"}\n'  # noqa: E501


@pytest.mark.parametrize(
    ("command", "data", "said"),
    [
        (("sft", "--base", "{model}", "--data", "{data}"), "", "{data} has no votes"),
        (("sft", "--base", "{model}", "--data", "{data}"), "down", "{data} has no 👍 replies"),
        (("rm", "--base", "{model}", "--votes", "{data}"), "", "{data} has no votes"),
        (("rm", "--base", "{model}", "--pairs", "{data}"), "", "{data} has no pairs"),
        (("kto", "--policy", "{model}", "--votes", "{data}"), "", "{data} has no votes"),
        (("kto", "--policy", "{model}", "--votes", "{data}"), "up", "needs both 👍 and 👎"),
        (
            ("ppo", "--policy", "{model}", "--reward", "{model}", "--prompts", "{data}"),
            "",
            "{data} has no prompts",
        ),
    ],
    ids=["sft-empty", "sft-no-likes", "rm-votes", "rm-pairs", "kto-empty", "kto-up-only", "ppo"],
)
def test_data_it_cannot_train_on_is_one_line_and_leaves_no_out_folder(
    command: tuple[str, ...],
    data: str,
    said: str,
    env: dict[str, str],
    tiny_model: Path,
    tmp_path: Path,
) -> None:
    path = tmp_path / "votes.jsonl"
    path.write_text({"": "", "up": UP_ONLY, "down": UP_ONLY.replace("true", "false")}[data])
    out = tmp_path / "runs" / "first"  # neither folder is there yet
    args = [arg.format(model=tiny_model, data=path) for arg in command]
    done = replyloop("train", *args, "--out", str(out), env=env, cwd=tmp_path, timeout=TIMEOUT_S)
    assert said.format(data=path) in one_line(done)
    assert not (tmp_path / "runs").exists()


def test_a_failed_train_keeps_an_out_folder_that_was_there(
    env: dict[str, str], tiny_model: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "run"
    (out / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    done = replyloop(
        "train", "kto", "--policy", str(tiny_model), "--votes", str(empty), "--out", str(out),
        env=env, cwd=tmp_path, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert f"{empty} has no votes" in one_line(done)
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    bare = tmp_path / "bare"
    bare.mkdir()
    done = replyloop(
        "train", "rm", "--base", str(tiny_model), "--votes", str(empty), "--out", str(bare),
        env=env, cwd=tmp_path, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert f"{empty} has no votes" in one_line(done)
    assert bare.is_dir()


def test_an_option_below_its_bound_is_argparses_usage_error(
    env: dict[str, str], tiny_model: Path, tmp_path: Path
) -> None:
    """KTO's KL estimate needs two votes a batch: --batch-size 1 was a ValueError from deep
    inside the trainer, after the data was read; now argparse refuses it before anything."""
    votes = votes_file(tmp_path / "v.kto.jsonl")
    refused = replyloop(
        "train", "kto", "--policy", str(tiny_model), "--votes", str(votes),
        "--out", str(tmp_path / "kto"), "--batch-size", "1", env=env, cwd=tmp_path,
        timeout=TIMEOUT_S,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "argument --batch-size: 1 is too small: at least 2" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    assert not (tmp_path / "kto").exists()
