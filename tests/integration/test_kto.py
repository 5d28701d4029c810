"""`train_kto` on a tiny real Llama (tokenizer set up like SmolLM2's), from vote rows made by
`core.export.rows.kto_row` and read back from JSON, exactly as the export file holds them.
No network: every model is a local folder made here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.types import ChatMessage
from tests.integration.training_fixtures import (
    exported_vote,
    offline,  # noqa: F401 - autouse: no network
    smol_like,
)
from training.kto_config import KtoConfig
from training.kto_trainer import train_kto
from training.runs import DataSource, RunFolder

SYSTEM: ChatMessage = {"role": "system", "content": "You are a helpful assistant."}
DATA = [DataSource("votes.kto.jsonl", 8)]


def exported(turn_id: int, question: str, reply: str, votes: list[int]) -> dict[str, Any]:
    return exported_vote(turn_id, [SYSTEM, {"role": "user", "content": question}], reply, votes)


HOW = "hello there, how are you today?"
CAPITAL = "what is the capital of France?"
VOTES = [
    exported(1, HOW, "I am fine, thank you.", [1]),
    exported(2, HOW, "the quick brown fox", [-1]),
    exported(3, CAPITAL, "Paris is the capital of France.", [1, 1, -1]),
    exported(4, CAPITAL, "0123456789", [-1, -1]),
    exported(5, "the quick brown fox", "jumps over the lazy dog", [1]),
    exported(6, "the quick brown fox", "hello there", [-1]),
    exported(7, "hello there", "how are you today?", [1]),
    exported(8, "hello there", "France France France", [-1]),
]


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return smol_like(tmp_path_factory.mktemp("policy"))


def quick(**changes: Any) -> KtoConfig:
    settings: dict[str, Any] = dict(  # margin weights would repeat rows: counts below
        learning_rate=2e-3, beta=0.5, batch_size=4, max_length=128, logging_steps=1,
        margin_weights=False,
    )  # fmt: skip
    return KtoConfig(**{**settings, **changes})


def reply_logprob(model: Any, tokenizer: Any, row: dict[str, Any]) -> float:
    """log pi(reply | prompt), summed over the reply's tokens (its <|im_end|> included)."""
    prompt = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True)
    prompt = list(getattr(prompt, "input_ids", prompt))
    full = tokenizer.apply_chat_template(row["prompt"] + row["completion"])
    ids = torch.tensor([list(getattr(full, "input_ids", full))])
    with torch.no_grad():
        logprobs = model(input_ids=ids).logits[0, :-1].log_softmax(-1)  # (T-1, V)
    picked = logprobs.gather(1, ids[0, 1:, None])[:, 0]  # (T-1,): log p(token t+1 | ..t)
    return float(picked[len(prompt) - 1 :].sum())


def test_votes_move_the_policy_and_the_run_folder_holds_it(policy: Path, tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    metrics = train_kto(policy, run, VOTES, VOTES, quick(epochs=8), DATA, parent="sft-1")

    assert metrics["steps"] == 16  # 8 votes, batch 4: two steps an epoch
    assert all(torch.isfinite(torch.tensor(value)) for value in metrics.values())
    assert metrics["desirable_weight"] == metrics["undesirable_weight"] == 1.0  # 4 👍, 4 👎
    assert metrics["rewards/margins"] > 0 and metrics["rewards/chosen"] > 0
    assert metrics["eval_rewards/margins"] > 0

    losses = [row["loss"] for row in run.metrics() if "loss" in row]
    assert len(losses) == 16
    assert sum(losses[-4:]) < 0.7 * sum(losses[:4])  # KTO's loss starts at 1 - sigmoid(0)

    trained = AutoModelForCausalLM.from_pretrained(run.model_dir)
    start = AutoModelForCausalLM.from_pretrained(policy)
    assert all(
        not torch.equal(weight, start.state_dict()[name])
        for name, weight in trained.state_dict().items()
    )
    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(policy).chat_template
    for row in VOTES:
        after = reply_logprob(trained, tokenizer, row)
        before = reply_logprob(start, tokenizer, row)
        assert after > before if row["label"] else after < before, row

    manifest = run.manifest()
    assert manifest["kind"] == "kto" and manifest["parent"] == "sft-1"
    assert manifest["metrics"] == metrics


def test_unbalanced_votes_are_weighted_and_resume(
    policy: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run = RunFolder(tmp_path / "run")
    votes = VOTES + [exported(9, HOW, "I am fine, thank you.", [1])] * 4  # 8 👍, 4 👎
    first = train_kto(policy, run, votes, [], quick(max_steps=2), DATA, parent=None)
    assert (first["desirable_weight"], first["undesirable_weight"]) == (1.0, 2.0)
    assert run.metrics()[0]["undesirable_weight"] == 2.0
    assert "8 👍 and 4 👎: desirable_weight=1.0, undesirable_weight=2.0" in capfd.readouterr().err
    assert "eval_loss" not in first

    second = train_kto(policy, run, votes, [], quick(max_steps=4), DATA, parent=None)
    assert second["steps"] == 4 and run.latest_checkpoint() == run.checkpoints / "checkpoint-4"
    steps = [row["step"] for row in run.metrics() if "loss" in row]
    assert steps == [1, 2, 3, 4]  # the second call went on from checkpoint-2


def test_vote_margins_repeat_rows(policy: Path, tmp_path: Path) -> None:
    """Weights 1/3 (one vote), 1/5 (2-1), 1/2 (0-2), over the smallest: 2, 1 and 2 copies."""
    run = RunFolder(tmp_path / "run")
    metrics = train_kto(policy, run, VOTES, [], quick(margin_weights=True, max_steps=1), DATA, None)
    assert metrics["votes"] == 8
    assert (metrics["votes_liked"], metrics["votes_disliked"]) == (7, 8)
    assert run.manifest()["settings"]["margin_weights"] is True


def test_one_label_or_no_votes_is_a_clear_error(policy: Path, tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    liked = [row for row in VOTES if row["label"]]
    with pytest.raises(ValueError, match="both 👍 and 👎.*4 👍 and 0 👎"):
        train_kto(policy, run, liked, [], quick(), DATA, None)
    with pytest.raises(ValueError, match="both 👍 and 👎.*0 👍 and 0 👎"):
        train_kto(policy, run, [], [], quick(), DATA, None)
    with pytest.raises(ValueError, match="row 1 is not a kto vote row"):
        train_kto(policy, run, [{"prompt": [SYSTEM], "completion": "hi"}], [], quick(), DATA, None)
    assert not run.manifest_path.exists()  # refused before anything was written
