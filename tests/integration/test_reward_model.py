"""The reward model (training/reward) on tiny real models: pairs through TRL's
RewardTrainer, unpaired votes through our pointwise loss, train_rm end to end, resuming,
and the score training optimises being the one training/scoring.py reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import torch
from trl.trainer.reward_trainer import DataCollatorForPreference

from core.export.rows import CastVote, RatedTurn, kto_row, pair_rows
from core.types import ChatMessage
from tests.integration.training_fixtures import offline, smol_like  # noqa: F401 - autouse guard
from training.models import load_scorer, load_tokenizer
from training.reward.metrics import evaluate, pair_scores, pairwise_accuracy, scores
from training.reward.pairwise import (
    LastTokenRewardTrainer,
    reward_config,
    tokenized_pairs,
    train_pairwise,
)
from training.reward.pointwise import train_pointwise
from training.reward.rm_config import RmConfig
from training.reward.rm_trainer import train_rm
from training.runs import DataSource, RunFolder
from training.scoring import reward_scores
from workers.tiny_model import make_tiny_model

# Texts from workers/tiny_model.CORPUS, so the tiny tokenizer has tokens for them.
FRANCE: list[ChatMessage] = [{"role": "user", "content": "what is the capital of France?"}]
HELLO: list[ChatMessage] = [{"role": "user", "content": "hello there, how are you today?"}]


def pair(prompt: list[ChatMessage], chosen: str, rejected: str) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def vote(prompt: list[ChatMessage], reply: str, liked: bool) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": reply}],
        "label": liked,
    }


PAIRS = [
    pair(FRANCE, "Paris is the capital of France.", "the quick brown fox"),
    pair(HELLO, "I am fine, thank you.", "the lazy dog 0123456789"),
]
VOTES = [
    vote(FRANCE, "Paris is the capital of France.", True),
    vote(HELLO, "I am fine, thank you.", True),
    vote(FRANCE, "the lazy dog", False),
    vote(HELLO, "0123456789", False),
    vote(HELLO, "the quick brown fox jumps", False),
]
FAST = RmConfig(learning_rate=3e-3, batch_size=4, logging_steps=1, save_steps=1000)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny"), hidden=64)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One thread and one seed. Tiny models gain nothing from a second thread, and on a
    loaded machine OpenMP's threads spin waiting for each other: this file took 100 s with
    two, 8 s with one. The seed fixes each new score head, whatever ran before."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def parameters(model: Any) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def logged(run: RunFolder, key: str) -> list[float]:
    return [row[key] for row in run.metrics() if key in row]


def test_pairwise_loss_falls_and_the_trained_pairs_rank_right(base: Path, tmp_path: Path) -> None:
    tokenizer, model = load_tokenizer(base), load_scorer(base)
    start = parameters(model)
    run = RunFolder(tmp_path / "rm")
    config = RmConfig(**{**FAST.__dict__, "max_steps": 25})

    steps, out_of_time = train_pairwise(model, tokenizer, run, PAIRS * 4, [], config, minutes=0)

    assert (steps, out_of_time) == (25, False)
    losses = logged(run, "loss")
    assert all(loss == loss and loss < 10 for loss in losses)  # finite
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    changed = [name for name, p in parameters(model).items() if not torch.equal(p, start[name])]
    assert "score.weight" in changed and any("layers.0." in name for name in changed)
    chosen, rejected = pair_scores(model, tokenizer, PAIRS, 256)
    assert all(c > r for c, r in zip(chosen, rejected, strict=True)), (chosen, rejected)
    assert (run.checkpoints / "checkpoint-25" / "trainer_state.json").is_file()


def test_pointwise_votes_reach_full_auc(base: Path, tmp_path: Path) -> None:
    tokenizer, model = load_tokenizer(base), load_scorer(base)
    run = RunFolder(tmp_path / "rm")
    config = RmConfig(**{**FAST.__dict__, "vote_epochs": 30.0})
    before = evaluate(model, tokenizer, [], VOTES)

    steps, out_of_time = train_pointwise(model, tokenizer, run, VOTES, [], config)

    assert (steps, out_of_time) == (60, False)  # 5 votes in batches of 4: 2 steps an epoch
    after = evaluate(model, tokenizer, [], VOTES)
    assert before["vote_auc"] < 1.0 and after["vote_auc"] == 1.0
    assert after["vote_accuracy"] == 1.0  # the scale is anchored too: 👍 > 0 > 👎
    losses = logged(run, "vote_loss")
    assert losses[-1] < 0.3 * losses[0]


def test_train_rm_end_to_end(base: Path, tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "rm")
    config = RmConfig(**{**FAST.__dict__, "epochs": 6.0, "vote_epochs": 10.0, "eval_steps": 3})
    data = [DataSource("pairs.jsonl", 8, "0" * 64), DataSource("votes.jsonl", 5, "1" * 64)]

    metrics = train_rm(base, run, PAIRS * 4, VOTES, PAIRS, VOTES, config, data, parent="sft-1")

    assert metrics["pairs"] == 2 and metrics["votes"] == 5 and metrics["steps"] == 12 + 20
    assert {"pairwise_accuracy_before", "vote_auc_before", "vote_auc"} <= metrics.keys()
    assert metrics["pairwise_accuracy"] == 1.0
    manifest = json.loads(run.manifest_path.read_text())
    assert manifest["kind"] == "rm" and manifest["parent"] == "sft-1"
    assert manifest["metrics"] == metrics and manifest["settings"]["freeze_layers"] == 0
    rows = run.metrics()
    assert any("eval_accuracy" in row for row in rows)  # TRL's held-out eval, pairwise phase
    assert any("eval_vote_auc" in row for row in rows)  # ours, vote phase
    assert any("vote_loss" in row for row in rows) and any("loss" in row for row in rows)
    reloaded = load_scorer(run.model_dir)  # what PPO and eval load
    assert pairwise_accuracy(reloaded, load_tokenizer(run.model_dir), PAIRS) == 1.0

    with pytest.raises(ValueError, match="pairs or votes"):
        train_rm(base, RunFolder(tmp_path / "empty"), [], [], PAIRS, VOTES, config, [], None)


def test_freezing_keeps_the_lower_layers_and_embeddings(base: Path, tmp_path: Path) -> None:
    config = RmConfig(**{**FAST.__dict__, "max_steps": 3, "freeze_layers": 1})
    run = RunFolder(tmp_path / "rm")
    train_rm(base, run, PAIRS, [], [], [], config, [], None)

    start, trained = load_scorer(base), load_scorer(run.model_dir)
    kept = parameters(start)
    now = parameters(trained)
    same = {name for name in now if name in kept and torch.equal(now[name], kept[name])}
    assert "model.embed_tokens.weight" in same
    assert all(name in same for name in now if name.startswith("model.layers.0."))
    assert not any(name in same for name in now if name.startswith("model.layers.1."))


@pytest.mark.parametrize("votes", [False, True], ids=["pairs", "votes"])
def test_a_run_stopped_by_its_time_budget_resumes(base: Path, tmp_path: Path, votes: bool) -> None:
    """max_minutes this small stops each run after one step (saved); the same command again
    continues from there, and ends with the weights of a run never stopped."""
    pairs, rows = ([], VOTES) if votes else (PAIRS * 2, [])
    config = RmConfig(**{**FAST.__dict__, "max_steps": 3, "vote_epochs": 1.5})

    whole = RunFolder(tmp_path / "whole")
    assert train_rm(base, whole, pairs, rows, [], [], config, [], None)["steps"] == 3

    stopped = RunFolder(tmp_path / "stopped")
    budget = RmConfig(**{**config.__dict__, "max_minutes": 1e-9})
    progress = [train_rm(base, stopped, pairs, rows, [], [], budget, [], None) for _ in range(3)]

    assert [m["steps"] for m in progress] == [1, 2, 3]
    assert [m["stopped_by_time"] for m in progress] == [1.0, 1.0, 0.0]
    key = "vote_loss" if votes else "loss"
    assert [row["step"] for row in stopped.metrics() if key in row] == [1, 2, 3]
    finished, resumed = parameters(load_scorer(whole.model_dir)), load_scorer(stopped.model_dir)
    for name, p in resumed.named_parameters():
        assert torch.allclose(p, finished[name], atol=1e-6), name


def test_held_out_scores_come_back_in_the_order_asked(base: Path) -> None:
    """Evaluation asks reward_scores shortest text first (less padding); the answer is in the
    caller's order and the same as reward_scores' own."""
    tokenizer, model = load_tokenizer(base), load_scorer(base)
    torch.nn.init.normal_(model.score.weight, std=1.0)
    prompts = [row["prompt"] for row in VOTES]
    replies = [row["completion"][0]["content"] for row in VOTES]
    expected = reward_scores(model, tokenizer, prompts, replies, batch_size=2)
    assert scores(model, tokenizer, prompts, replies, 256) == pytest.approx(expected, abs=1e-5)


def test_the_trained_length_bounds_later_scoring(base: Path, tmp_path: Path) -> None:
    """`train rm --max-length N` is saved with the model; PPO and eval, which ask for longer
    texts, score only the last N tokens, as the model was trained to."""
    run = RunFolder(tmp_path / "rm")
    config = RmConfig(**{**FAST.__dict__, "max_length": 12})
    train_rm(base, run, [], VOTES, [], VOTES, config, [], parent=None)
    tokenizer, model = load_tokenizer(run.model_dir), load_scorer(run.model_dir)
    assert tokenizer.model_max_length == 12
    reply = "Paris is the capital of France."
    long_prompt: list[ChatMessage] = [{"role": "user", "content": "the lazy dog " * 20}]
    bounded = reward_scores(model, tokenizer, [FRANCE, long_prompt], [reply, reply])
    assert bounded[0] == pytest.approx(bounded[1], abs=1e-5)  # the same last 12 tokens
    tokenizer.model_max_length = 512
    unbounded = reward_scores(model, tokenizer, [FRANCE, long_prompt], [reply, reply])
    assert unbounded[0] != pytest.approx(unbounded[1], abs=1e-5)


def smollm_like(out: Path, ends_with_pad: bool) -> Path:
    """The tiny model with SmolLM2's padding (pad == eos == <|im_end|>). With ends_with_pad
    the chat template ends a turn on <|im_end|> (SmolLM2's own adds a newline after it)."""
    smol_like(out)
    if ends_with_pad:
        tokenizer = load_tokenizer(out)
        tokenizer.chat_template = tokenizer.chat_template.replace("<|im_end|>\n", "<|im_end|>")
        tokenizer.save_pretrained(out)
    return out


@pytest.mark.parametrize("ends_with_pad", [False, True], ids=["smollm2-template", "ends-on-pad"])
def test_training_scores_what_scoring_reads(tmp_path: Path, ends_with_pad: bool) -> None:
    folder = smollm_like(tmp_path / "model", ends_with_pad)
    tokenizer, model = load_tokenizer(folder), load_scorer(folder)
    torch.nn.init.normal_(model.score.weight, std=1.0)  # scores far apart position by position
    rows = tokenized_pairs(tokenizer, PAIRS, 256)
    trainer = LastTokenRewardTrainer(
        model=model,
        args=reward_config(FAST, RunFolder(tmp_path / "rm"), evaluate=False),
        train_dataset=rows,
        processing_class=tokenizer,
    )
    # TRL's collator on TRL's own tokenization of the rows (no truncation here) ...
    trl_ids = [
        tokenizer.apply_chat_template(row["prompt"] + row[side], tokenize=True, return_dict=True)
        for row in PAIRS
        for side in ("chosen", "rejected")
    ]
    assert [r["input_ids"] for r in trl_ids] == [
        ids for row in rows for ids in (row["chosen_ids"], row["rejected_ids"])
    ]
    batch = DataCollatorForPreference(tokenizer.pad_token_id)(list(rows))
    model.eval()
    with torch.no_grad():
        _, outputs = trainer.compute_loss(model, dict(batch), return_outputs=True)
        forward = model(**batch).logits.squeeze(-1)  # TRL's stock reading: last non-pad id
    # ... gives the rewards reward_scores reads (chosen rows first, then rejected)
    prompts = [row["prompt"] for row in PAIRS] * 2
    replies = [row["chosen"][0]["content"] for row in PAIRS] + [
        row["rejected"][0]["content"] for row in PAIRS
    ]
    expected = torch.tensor(reward_scores(model, tokenizer, prompts, replies))
    torch.testing.assert_close(outputs["rewards"], expected)
    # The stock forward agrees only while no text ends on the pad token.
    assert torch.allclose(forward, expected) is not ends_with_pad


def test_export_rows_are_trained_on_as_written(base: Path, tmp_path: Path) -> None:
    """Rows built by core/export/rows.py, through JSON as `replyloop feedback export` writes
    them, go into train_rm with no conversion."""
    when = datetime(2026, 1, 5, tzinfo=UTC)

    def rated(turn_id: int, completion: str, *votes: int) -> RatedTurn:
        cast = tuple(CastVote(f"u{i}", value, None) for i, value in enumerate(votes))
        return RatedTurn(turn_id, 1, 7, "slack", FRANCE, completion, "sft-1", {}, when, cast)

    good = rated(1, "Paris is the capital of France.", 1, 1)
    bad = rated(2, "the quick brown fox", -1)
    as_written = [json.loads(json.dumps(row)) for row in pair_rows([good, bad], b"k")]
    votes = [json.loads(json.dumps(kto_row(turn, b"k"))) for turn in (good, bad)]
    assert len(as_written) == 1 and [row["label"] for row in votes] == [True, False]

    config = RmConfig(**{**FAST.__dict__, "max_steps": 2, "vote_epochs": 2.0})
    run = RunFolder(tmp_path / "rm")
    metrics = train_rm(base, run, as_written, votes, as_written, votes, config, [], None)

    assert metrics["pairs"] == 1 and metrics["votes"] == 2 and metrics["steps"] == 2 + 2


def test_pairs_with_surer_votes_ask_a_wider_reward_gap(tmp_path: Path) -> None:
    """With vote counts, each pair's loss is Llama 2's -log σ(r_chosen - r_rejected - margin),
    the margin from its votes (training.data.weights.pair_margin); without, the plain loss."""
    folder = smollm_like(tmp_path / "model", ends_with_pad=False)
    tokenizer, model = load_tokenizer(folder), load_scorer(folder)
    counted = [
        {**row, "chosen_up": 3, "chosen_down": 0, "rejected_up": 0, "rejected_down": 3}
        for row in PAIRS
    ]
    plain = tokenized_pairs(tokenizer, counted, 256)
    margined = tokenized_pairs(tokenizer, counted, 256, margins=True)
    assert "margin" not in plain.column_names
    assert margined["margin"] == pytest.approx([0.8667] * len(PAIRS), abs=1e-4)
    trainer = LastTokenRewardTrainer(
        model=model,
        args=reward_config(FAST, RunFolder(tmp_path / "rm"), evaluate=False),
        train_dataset=margined,
        processing_class=tokenizer,
    )
    collate = DataCollatorForPreference(tokenizer.pad_token_id)
    model.eval()
    with torch.no_grad():
        loss, outputs = trainer.compute_loss(model, dict(collate(list(margined))), True)
        without = trainer.compute_loss(model, dict(collate(list(plain))))
    chosen, rejected = torch.chunk(outputs["rewards"], 2)
    gap = chosen - rejected
    torch.testing.assert_close(
        loss, -torch.nn.functional.logsigmoid(gap - 0.8667).mean(), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(without, -torch.nn.functional.logsigmoid(gap).mean())
