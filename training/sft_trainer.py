"""`replyloop train sft`: supervised fine-tuning on conversations with TRL's SFTTrainer.

Rows are TRL's conversational prompt-completion rows, one per assistant turn:
{"prompt": [system, user, assistant, ..., user], "completion": [{"role": "assistant", ...}]}.
The loss covers the completion alone. TRL 1.16 (`SFTTrainer._prepare_dataset`) tokenises
the prompt with the generation prompt and then prompt + completion; the tokens past their
common prefix are the completion, and every other label is -100. With a ChatML template the
completion's tokens are `reply<|im_end|>\n`: the end-of-turn token is learnt, so the model
learns to stop. That token is also SmolLM2's pad token; the collator pads labels with -100
by position, not by token id, so the real end-of-turn tokens keep their labels.

Devices are the Trainer's business (CPU, one GPU, or several under `accelerate launch`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from datasets import Dataset
from trl import SFTConfig, SFTTrainer

from training.data.chitchat import DataError
from training.lora import NO_LORA, LoraOptions, record_trainer, trl_peft_config
from training.models import load_policy, load_tokenizer
from training.run_callbacks import (
    Offline,
    RunLog,
    TimeBudget,
    publish_model,
    recorded_settings,
    resume_from,
    trainer_arguments,
)
from training.runs import DataSource, RunFolder
from training.scalar_log import into_run_folder
from training.sft_config import SftConfig

KIND = "sft"


class SftTrainer(Offline, SFTTrainer):
    """TRL's SFTTrainer, silent towards the Hub."""


def check_rows(rows: list[dict[str, Any]], what: str) -> None:
    for number, row in enumerate(rows, 1):
        if "label" in row:
            # A 👎 reply must never be imitated: vote rows are filtered before they get here.
            raise ValueError(
                f"{what} row {number} is a vote row (it has a label); SFT takes the liked "
                "replies only: training.data.builders.liked_rows"
            )
        completion = row.get("completion")
        if (
            not isinstance(row.get("prompt"), list)
            or not isinstance(completion, list)
            or len(completion) != 1
            or completion[0].get("role") != "assistant"
        ):
            raise ValueError(
                f"{what} row {number} is not a conversational prompt-completion row "
                '({"prompt": [messages], "completion": [one assistant message]})'
            )


def make_trainer(
    base_dir: Path,
    run: RunFolder,
    rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    config: SftConfig,
    lora: LoraOptions = NO_LORA,
) -> SftTrainer:
    """The SFTTrainer for this run, its data tokenised and labelled, before any step."""
    if not rows:
        raise DataError("SFT needs at least one training row")
    check_rows(rows, "training")
    check_rows(eval_rows, "held-out")
    args = SFTConfig(
        **trainer_arguments(run, config, evaluating=bool(eval_rows)),
        completion_only_loss=True,
        assistant_only_loss=False,  # the prompt is masked whole; earlier replies are context
        packing=False,
    )
    model = load_policy(base_dir)
    return SftTrainer(
        model=model,
        peft_config=trl_peft_config(model, lora),
        args=args,
        train_dataset=Dataset.from_list(rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=load_tokenizer(base_dir),
    )


def describe_lengths(trainer: SftTrainer, rows: int, max_length: int) -> str:
    """How many rows max_length cut (TRL keeps the start: a cut row loses the end of its
    reply) or dropped (its prompt alone filled max_length)."""
    prepared: Any = trainer.train_dataset  # a datasets.Dataset: tokenised, labelled, cut
    lengths = [len(ids) for ids in prepared["input_ids"]]
    cut = sum(length >= max_length for length in lengths)
    return (
        f"sft: {len(lengths)} training rows, longest {max(lengths, default=0)} tokens; "
        f"{cut} cut at max_length={max_length}, {rows - len(lengths)} dropped (prompt too long)"
    )


def train_sft(
    base_dir: Path,
    run: RunFolder,
    rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    config: SftConfig,
    data: list[DataSource],
    parent: str | None,
    lora: LoraOptions = NO_LORA,
) -> dict[str, float]:
    """Fine-tune the model in `base_dir` on `rows` into `run`, resuming its newest
    checkpoint if there is one. Returns train_loss, steps and seconds, and eval_loss_before
    and eval_loss (on `eval_rows`) when there are held-out rows."""
    started = time.monotonic()
    trainer = make_trainer(base_dir, run, rows, eval_rows, config, lora)
    main = trainer.is_world_process_zero()
    if main:
        record_trainer(trainer, run, lora)
        run.start(KIND, parent, data, recorded_settings(config), config.seed)
        print(describe_lengths(trainer, len(rows), config.max_length), file=sys.stderr)
    trainer.add_callback(RunLog(run))
    into_run_folder(trainer, run)
    budget = TimeBudget(config.max_minutes, trainer.accelerator)
    trainer.add_callback(budget)

    metrics: dict[str, float] = {}
    if eval_rows:
        metrics["eval_loss_before"] = trainer.evaluate()["eval_loss"]
    result = trainer.train(resume_from_checkpoint=resume_from(run))
    metrics["train_loss"] = result.training_loss
    if eval_rows:
        metrics["eval_loss"] = trainer.evaluate()["eval_loss"]
    metrics["steps"] = float(trainer.state.global_step)
    metrics["stopped_by_time"] = float(budget.stopped_early)

    publish_model(trainer, run)
    metrics["seconds"] = round(time.monotonic() - started, 3)
    if main:
        run.finish(metrics)
    return metrics
