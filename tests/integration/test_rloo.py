"""`train_rloo` on a tiny real Llama (tokenizer set up like SmolLM2's) against a reward
model on the same backbone: the policy moves, the run resumes from its checkpoint, and a
reply cut off before end-of-turn loses missing_eos_penalty from its score. No network:
every model is a local folder made here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM

from core.types import ChatMessage
from tests.integration.training_fixtures import (
    offline,  # noqa: F401 - autouse: no network
    smol_like,
)
from training.models import load_scorer, load_tokenizer
from training.rloo_config import RlooConfig
from training.rloo_trainer import RewardModelScore, train_rloo
from training.runs import DataSource, RunFolder

SYSTEM: ChatMessage = {"role": "system", "content": "You are a helpful assistant."}
PROMPTS: list[list[ChatMessage]] = [
    [SYSTEM, {"role": "user", "content": question}]
    for question in ("hello there, how are you?", "what is the capital of France?",
                     "the quick brown fox", "tell me a joke")
]  # fmt: skip
DATA = [DataSource("votes.kto.jsonl", 4)]


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return smol_like(tmp_path_factory.mktemp("policy"))


@pytest.fixture(scope="module")
def reward(policy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reward model folder as `train rm` leaves one: the policy's backbone, a score head."""
    folder = tmp_path_factory.mktemp("rm")
    torch.manual_seed(0)
    load_scorer(policy).save_pretrained(folder)
    tokenizer = load_tokenizer(policy)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(folder)
    return folder


def quick(**changes: Any) -> RlooConfig:
    settings: dict[str, Any] = dict(
        learning_rate=1e-2, batch_size=4, num_generations=2, max_new_tokens=6,
        max_length=96, logging_steps=1, eval_prompts=0,
    )  # fmt: skip
    return RlooConfig(**{**settings, **changes})


def test_the_policy_moves_and_the_run_resumes(policy: Path, reward: Path, tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    first = train_rloo(policy, reward, run, PROMPTS, [], quick(max_steps=2), DATA, None)
    assert first["steps"] == 2 and {"reward", "kl", "completions/mean_length"} <= set(first)
    assert run.model_dir.is_dir() and run.manifest()["reward_model"]["path"] == str(reward)
    before = AutoModelForCausalLM.from_pretrained(policy).state_dict()
    after = AutoModelForCausalLM.from_pretrained(run.model_dir).state_dict()
    assert any(not torch.equal(before[name], after[name]) for name in before)

    second = train_rloo(policy, reward, run, PROMPTS, [], quick(max_steps=3), DATA, None)
    assert second["steps"] == 3 and run.latest_checkpoint() == run.checkpoints / "checkpoint-3"
    assert [row["step"] for row in run.metrics() if "reward" in row] == [1, 2, 3]


def test_a_reply_cut_off_loses_the_penalty(policy: Path, reward: Path) -> None:
    tokenizer = load_tokenizer(reward)
    score = RewardModelScore(load_scorer(reward), tokenizer, 128, missing_eos_penalty=1.5)
    score.eos_ids = frozenset({tokenizer.eos_token_id})
    reply: list[ChatMessage] = [{"role": "assistant", "content": "I am fine"}]
    ids = tokenizer("I am fine", add_special_tokens=False)["input_ids"]
    ended, cut = score([PROMPTS[0]] * 2, [reply, reply], [[*ids, tokenizer.eos_token_id], ids])
    assert ended is not None and cut is not None
    assert cut == pytest.approx(ended - 1.5)
