"""`train_dpo` on a tiny real Llama (tokenizer set up like SmolLM2's), from pairs rows made
by `core.export.rows.pair_rows` and from pairs mined out of `kto_row` votes, both read back
from JSON exactly as the export files hold them. No network: every model is a local folder
made here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.export.rows import CastVote, RatedTurn, kto_row, pair_rows
from core.types import ChatMessage
from tests.integration.test_kto import reply_logprob
from tests.integration.training_fixtures import (
    offline,  # noqa: F401 - autouse: no network
    smol_like,
)
from training.data.vote_pairs import mined_pairs
from training.dpo_config import DpoConfig
from training.dpo_trainer import train_dpo
from training.runs import DataSource, RunFolder

SYSTEM: ChatMessage = {"role": "system", "content": "You are a helpful assistant."}
DATA = [DataSource("pairs.jsonl", 4)]
SECRET = b"fixture-secret"


def rated(conversation: int, turn: int, question: str, reply: str, vote: int) -> RatedTurn:
    return RatedTurn(
        turn_id=turn,
        conversation_id=conversation,
        message_id=conversation,
        platform="slack",
        prompt=[SYSTEM, {"role": "user", "content": question}],
        completion=reply,
        model_version="tiny",
        settings={},
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        votes=(CastVote("U1", vote, None),),
    )


def read_back(row: dict[str, Any] | None) -> dict[str, Any]:
    assert row is not None
    loaded: dict[str, Any] = json.loads(json.dumps(row))
    return loaded


HOW = "hello there, how are you today?"
CAPITAL = "what is the capital of France?"
# (conversation, question, 👍 reply, 👎 reply): one 🔄 pair each.
CONTEXTS = [
    (1, HOW, "I am fine, thank you.", "the quick brown fox"),
    (2, CAPITAL, "Paris is the capital of France.", "0123456789"),
    (3, "the quick brown fox", "jumps over the lazy dog", "hello there"),
    (4, "hello there", "how are you today?", "France France France"),
]
PAIRS = [
    read_back(row)
    for c, question, good, bad in CONTEXTS
    for row in pair_rows(
        [rated(c, 2 * c, question, good, 1), rated(c, 2 * c + 1, question, bad, -1)], SECRET
    )
]


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return smol_like(tmp_path_factory.mktemp("policy"))


def quick(**changes: Any) -> DpoConfig:
    settings: dict[str, Any] = dict(
        learning_rate=2e-3, beta=0.5, batch_size=2, max_length=128, logging_steps=1
    )
    return DpoConfig(**{**settings, **changes})


def test_pairs_move_the_policy_and_the_run_folder_holds_it(policy: Path, tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    metrics = train_dpo(policy, run, PAIRS, PAIRS, quick(epochs=6), DATA, parent="sft-1")

    assert metrics["steps"] == 12 and metrics["pairs"] == 4  # 4 pairs, batch 2: two a pass
    assert all(torch.isfinite(torch.tensor(value)) for value in metrics.values())
    assert metrics["rewards/margins"] > 0 and metrics["eval_rewards/margins"] > 0
    assert metrics["eval_rewards/accuracies"] == 1.0
    losses = [row["loss"] for row in run.metrics() if "loss" in row]
    assert len(losses) == 12
    assert losses[0] == pytest.approx(0.6931, abs=1e-3)  # -logsigmoid(0): policy = reference
    assert sum(losses[-2:]) < 0.5 * sum(losses[:2])

    trained = AutoModelForCausalLM.from_pretrained(run.model_dir)
    start = AutoModelForCausalLM.from_pretrained(policy)
    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    for row in PAIRS:
        chosen = {"prompt": row["prompt"], "completion": row["chosen"]}
        rejected = {"prompt": row["prompt"], "completion": row["rejected"]}
        gained = reply_logprob(trained, tokenizer, chosen) - reply_logprob(start, tokenizer, chosen)
        lost = reply_logprob(trained, tokenizer, rejected) - reply_logprob(
            start, tokenizer, rejected
        )
        assert gained > lost, row  # the chosen reply gained on the rejected one

    manifest = run.manifest()
    assert manifest["kind"] == "dpo" and manifest["parent"] == "sft-1"
    assert manifest["metrics"] == metrics


def test_mined_pairs_train_and_resume(policy: Path, tmp_path: Path) -> None:
    """Votes exported one reply a row: the 👍 and 👎 replies of each context become the same
    pairs as the pairs export's, and a second call goes on from the checkpoint."""
    votes = [
        read_back(kto_row(rated(c, 2 * c + k, question, reply, vote), SECRET))
        for c, question, good, bad in CONTEXTS
        for k, (reply, vote) in enumerate([(good, 1), (bad, -1)])
    ]
    mined = mined_pairs(votes)
    assert mined == PAIRS
    run = RunFolder(tmp_path / "run")
    first = train_dpo(policy, run, mined, [], quick(max_steps=2), DATA, parent=None)
    assert first["steps"] == 2 and "eval_loss" not in first
    second = train_dpo(policy, run, mined, [], quick(max_steps=4), DATA, parent=None)
    assert second["steps"] == 4 and run.latest_checkpoint() == run.checkpoints / "checkpoint-4"
    steps = [row["step"] for row in run.metrics() if "loss" in row]
    assert steps == [1, 2, 3, 4]  # the second call went on from checkpoint-2


def test_no_pairs_or_a_bad_row_is_a_clear_error(policy: Path, tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    with pytest.raises(ValueError, match="DPO needs preference pairs.*2 held out"):
        train_dpo(policy, run, [], PAIRS[:2], quick(), DATA, None)
    with pytest.raises(ValueError, match="row 1 is not a pairs row: 'rejected'"):
        train_dpo(policy, run, [{**PAIRS[0], "rejected": "no"}], [], quick(), DATA, None)
    assert not run.manifest_path.exists()  # refused before anything was written
