"""`train_sft` on a tiny real Llama whose tokenizer is set up like SmolLM2's: ChatML
template, pad == eos == <|im_end|> (so padding and the end of a reply share one id).
No network: every model is a local folder made here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from core.types import ChatMessage
from tests.integration.training_fixtures import (
    exported_vote,
    offline,  # noqa: F401 - autouse: no network
    smol_like,
)
from training.data.builders import liked_rows
from training.runs import DataSource, RunFolder, RunMismatch
from training.sft_config import SftConfig
from training.sft_trainer import make_trainer, train_sft

SYSTEM: ChatMessage = {"role": "system", "content": "You are a helpful assistant."}
DATA = [DataSource("test rows", 4)]


def sft_row(prompt: list[ChatMessage], reply: str) -> dict[str, Any]:
    return {"prompt": [SYSTEM, *prompt], "completion": [{"role": "assistant", "content": reply}]}


def liked_export_row() -> dict[str, Any]:
    """A 👍 reply exactly as `replyloop feedback export --format kto` writes it."""
    question: ChatMessage = {"role": "user", "content": "what is the capital of France?"}
    row = exported_vote(1, [SYSTEM, question], "Paris is the capital of France.", [1])
    assert row["label"] is True
    return row


ROWS = [
    sft_row([{"role": "user", "content": "hello there"}], "how are you today?"),
    sft_row(
        [
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": "how are you today?"},
            {"role": "user", "content": "I am fine"},
        ],
        "thank you.",
    ),
    sft_row([{"role": "user", "content": "the quick brown fox"}], "jumps over the lazy dog"),
    *liked_rows([liked_export_row()]),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return smol_like(tmp_path_factory.mktemp("base"))


def quick(**changes: Any) -> SftConfig:
    settings: dict[str, Any] = dict(
        learning_rate=1e-2, batch_size=4, max_length=128, logging_steps=1, save_steps=100
    )
    return SftConfig(**{**settings, **changes})


def test_loss_falls_and_the_run_folder_holds_a_chat_model(base: Path, tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    metrics = train_sft(base, run, ROWS, ROWS, quick(epochs=40), DATA, parent="tiny")

    assert set(metrics) >= {"train_loss", "eval_loss_before", "eval_loss", "steps", "seconds"}
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert metrics["steps"] == 40  # 4 rows, batch 4: one step an epoch
    assert metrics["eval_loss"] < 0.5 * metrics["eval_loss_before"]

    logged = run.metrics()
    losses = [row["loss"] for row in logged if "loss" in row]
    assert len(losses) == 40 and losses[-1] < 0.5 * losses[0]
    assert {"learning_rate", "grad_norm", "epoch"} <= set(logged[1])
    assert [row["eval_loss"] for row in logged if "eval_loss" in row] == [
        pytest.approx(metrics["eval_loss_before"]),
        pytest.approx(metrics["eval_loss"]),
    ]

    manifest = run.manifest()
    assert manifest["kind"] == "sft" and manifest["parent"] == "tiny"
    assert manifest["metrics"] == metrics and manifest["data"][0]["name"] == "test rows"

    model = AutoModelForCausalLM.from_pretrained(run.model_dir)
    before = AutoModelForCausalLM.from_pretrained(base)
    changed = [
        name
        for name, weight in model.state_dict().items()
        if not torch.equal(weight, before.state_dict()[name])
    ]
    assert len(changed) == len(model.state_dict())
    tokenizer: Any = AutoTokenizer.from_pretrained(run.model_dir)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(base).chat_template
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert GenerationConfig.from_pretrained(run.model_dir).eos_token_id == eos
    assert not (run.root / "model.partial").exists()

    # The trained model answers its training prompt with the reply and stops at <|im_end|>.
    prompt = tokenizer.apply_chat_template(
        ROWS[2]["prompt"], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**prompt, max_new_tokens=20, do_sample=False)
    reply = out[0, prompt["input_ids"].shape[1] :]
    assert tokenizer.decode(reply, skip_special_tokens=True) == "jumps over the lazy dog"
    assert reply[-1] == eos


def test_loss_is_on_the_assistant_reply_only(base: Path, tmp_path: Path) -> None:
    trainer = make_trainer(base, RunFolder(tmp_path / "run"), ROWS, [], quick())
    tokenizer: Any = trainer.processing_class
    prepared: Any = trainer.train_dataset
    collate: Any = trainer.data_collator
    examples = [{k: prepared[i][k] for k in ("input_ids", "labels")} for i in range(len(ROWS))]
    batch = collate(examples)  # right-padded with pad == <|im_end|>
    by_text = {
        tokenizer.decode(ids[mask.bool()]): (ids, labels, mask)
        for ids, labels, mask in zip(
            batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True
        )
    }
    assert len(by_text) == len(ROWS)  # train_dataset is shuffled: match rows by their text
    for row in ROWS:
        prompt_ids = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True)
        prompt_ids = list(getattr(prompt_ids, "input_ids", prompt_ids))
        text = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        ids, labels, mask = by_text[text]
        length = int(mask.sum())
        # Everything up to `<|im_start|>assistant\n` is context: no loss there.
        assert ids[: len(prompt_ids)].tolist() == prompt_ids
        assert (labels[: len(prompt_ids)] == -100).all()
        # The reply and its end-of-turn token are learnt, every one of them ...
        reply = labels[len(prompt_ids) : length]
        assert (reply == ids[len(prompt_ids) : length]).all()
        content = row["completion"][0]["content"]
        assert tokenizer.decode(reply) == content + "<|im_end|>\n"
        # ... and padding is not, although its id is the end-of-turn id.
        assert (labels[length:] == -100).all()

    # The trainer's loss is the mean over exactly those tokens, and not the full sequence.
    model: Any = trainer.model
    with torch.no_grad():
        loss = trainer.compute_loss(model, dict(batch))
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    per_token = torch.nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1), targets.flatten(), reduction="none", ignore_index=-100
    )
    assert loss.item() == pytest.approx(per_token.sum().item() / (targets != -100).sum().item())
    everything = torch.nn.functional.cross_entropy(
        logits[:, :-1].flatten(0, 1), batch["input_ids"][:, 1:].flatten(), reduction="none"
    )[batch["attention_mask"][:, 1:].flatten().bool()]
    assert loss.item() != pytest.approx(everything.mean().item(), rel=1e-3)


def test_resume_continues_from_the_checkpoint(base: Path, tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    first = train_sft(base, run, ROWS, [], quick(max_steps=3), DATA, parent=None)
    assert first["steps"] == 3 and run.latest_checkpoint() == run.checkpoints / "checkpoint-3"
    logged = len(run.metrics())

    second = train_sft(base, run, ROWS, [], quick(max_steps=6), DATA, parent=None)
    assert second["steps"] == 6 and run.latest_checkpoint() == run.checkpoints / "checkpoint-6"
    steps = [row["step"] for row in run.metrics()[logged:] if "loss" in row]
    assert steps == [4, 5, 6]  # from scratch it would log steps 1, 2 and 3 again
    assert run.manifest()["metrics"] == second

    with pytest.raises(RunMismatch):  # another learning rate is another run
        train_sft(base, run, ROWS, [], quick(max_steps=9, learning_rate=1e-4), DATA, None)


def test_time_budget_stops_cleanly_and_saves(base: Path, tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    metrics = train_sft(base, run, ROWS, [], quick(max_steps=10_000, max_minutes=1e-4), DATA, None)
    assert metrics["stopped_by_time"] == 1.0 and metrics["steps"] < 10_000
    assert run.latest_checkpoint() is not None
    assert AutoModelForCausalLM.from_pretrained(run.model_dir) is not None


def test_vote_rows_and_empty_data_are_refused(base: Path, tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    with pytest.raises(ValueError, match="liked_rows"):
        train_sft(base, run, [liked_export_row()], [], quick(), DATA, None)
    with pytest.raises(ValueError, match="at least one"):
        train_sft(base, run, [], [], quick(), DATA, None)
