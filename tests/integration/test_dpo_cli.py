"""`replyloop train dpo` as a person runs it, on a tiny real model and a real database:
from a pairs export and from pairs mined out of a kto export, registered with its lineage,
then `replyloop eval` and `replyloop model promote` on it; and one line for each file it
cannot train on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.export.rows import CastVote, RatedTurn, kto_row, pair_rows
from core.store import open_store, registry
from tests.integration.test_cli import one_line
from tests.integration.test_train_cli import TIMEOUT_S, UP_ONLY, evaluate, ok, train
from tests.integration.workers import clean_env, replyloop
from workers.models import folder_version

SECRET = b"fixture-secret"
CONVERSATIONS = 12


def rated(conversation: int, k: int, reply: str, vote: int, said: str = "") -> RatedTurn:
    """Reply `k` to conversation `conversation`'s one message (k > 0: a 🔄 sibling)."""
    return RatedTurn(
        turn_id=10 * conversation + k,
        conversation_id=conversation,
        message_id=conversation,
        platform="slack",
        prompt=[{"role": "user", "content": said or f"hello there {conversation}"}],
        completion=reply,
        model_version="tiny",
        settings={},
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        votes=(CastVote("U1", vote, None),),
    )


def siblings(conversation: int) -> list[RatedTurn]:
    return [rated(conversation, 0, "I am fine, thank you.", 1), rated(conversation, 1, "dog", -1)]


def write(path: Path, rows: list[dict[str, Any] | None]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows if row is not None))
    return path


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(database_url=sqlite_url, data_dir=str(tmp_path / "data"))


def test_dpo_from_pairs_and_votes_eval_promote(
    env: dict[str, str], sqlite_url: str, tiny_model: Path, tmp_path: Path
) -> None:
    """What `replyloop feedback export --format pairs` and `--format kto` write."""
    pairs = write(
        tmp_path / "pairs.jsonl",
        [row for c in range(CONVERSATIONS) for row in pair_rows(siblings(c), SECRET)],
    )
    votes = write(
        tmp_path / "votes.kto.jsonl",
        [
            kto_row(turn, SECRET)
            for c in range(CONVERSATIONS, 2 * CONVERSATIONS)
            for turn in siblings(c)
        ],
    )
    runs = tmp_path / "runs"
    said = train(
        env, tmp_path, "dpo", "--policy", str(tiny_model), "--pairs", str(pairs),
        "--votes", str(votes), "--out", str(runs / "dpo"), "--max-steps", "2",
        "--batch-size", "4", "--held-out-percent", "20",
    )  # fmt: skip
    assert "registered dpo-" in said
    train(
        env, tmp_path, "rm", "--base", str(tiny_model), "--pairs", str(pairs),
        "--out", str(runs / "rm"), "--max-steps", "1", "--batch-size", "4",
        "--held-out-percent", "20",
    )  # fmt: skip

    store = open_store(sqlite_url)
    models = {record.kind: record for record in registry.list_models(store)}
    dpo = models["dpo"]
    assert dpo.parent == folder_version(tiny_model) and dpo.path == str(runs / "dpo" / "model")
    assert {source["name"] for source in dpo.data} == {str(pairs), str(votes)}
    assert dpo.metrics["steps"] == 2
    # 12 🔄 pairs and 12 mined ones, a fifth of the conversations held out (a stable hash).
    assert dpo.metrics["pairs"] + dpo.metrics["pairs_held_out"] == 2 * CONVERSATIONS
    assert 0 < dpo.metrics["pairs_held_out"] < CONVERSATIONS
    manifest = json.loads((runs / "dpo" / "run.json").read_text())
    assert manifest["held_out"] == {"percent": 20.0, "key": "conversation"}
    assert manifest["kind"] == "dpo" and manifest["settings"]["beta"] == 0.1

    done = ok(evaluate(env, tmp_path, runs / "dpo", tiny_model, runs / "rm", "--limit", "4"))
    assert "win_rate" in done.stdout
    assert len((runs / "dpo" / "eval" / "samples.jsonl").read_text().splitlines()) == 4

    promoted = ok(replyloop("model", "promote", dpo.version, env=env, cwd=tmp_path))
    assert dpo.version in promoted.stdout
    assert registry.promoted(store) == dpo


# The same prompt in two conversations, 👍 in one and 👎 in the other: not a pair.
ONE_VOTE_EACH = [
    kto_row(rated(1, 0, "I am fine, thank you.", 1, "hi"), SECRET),
    kto_row(rated(2, 0, "dog", -1, "hi"), SECRET),
]


@pytest.mark.parametrize(
    ("option", "data", "said"),
    [
        ("--pairs", "", "{data} has no pairs"),
        ("--pairs", UP_ONLY, "{data}:1: not a pairs row: 'chosen' must be a non-empty list"),
        (
            "--votes",
            "".join(json.dumps(row) + "\n" for row in ONE_VOTE_EACH),
            "{data} has no 👍 and 👎 replies in one context (same conversation and prompt)",
        ),
    ],
    ids=["pairs-empty", "pairs-kto-row", "votes-no-context"],
)
def test_data_it_cannot_pair_is_one_line_and_leaves_no_out_folder(
    option: str, data: str, said: str, env: dict[str, str], tiny_model: Path, tmp_path: Path
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(data)
    out = tmp_path / "runs" / "dpo"
    done = replyloop(
        "train", "dpo", "--policy", str(tiny_model), option, str(path), "--out", str(out),
        env=env, cwd=tmp_path, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert said.format(data=path) in one_line(done)
    assert not (tmp_path / "runs").exists()


def test_no_data_is_one_line(env: dict[str, str], tiny_model: Path, tmp_path: Path) -> None:
    done = replyloop(
        "train", "dpo", "--policy", str(tiny_model), "--out", str(tmp_path / "dpo"),
        env=env, cwd=tmp_path, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert "train dpo needs --pairs or --votes" in one_line(done)
    assert not (tmp_path / "dpo").exists()


def test_an_unknown_loss_type_is_argparses_usage_error(
    env: dict[str, str], tiny_model: Path, tmp_path: Path
) -> None:
    """TRL refused it only at the first step, with a traceback, leaving the run folder."""
    refused = replyloop(
        "train", "dpo", "--policy", str(tiny_model), "--pairs", "chitchat",
        "--loss-type", "dpo", "--out", str(tmp_path / "dpo"), env=env, cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "argument --loss-type: invalid choice: 'dpo' (choose from 'sigmoid'," in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    assert not (tmp_path / "dpo").exists()
