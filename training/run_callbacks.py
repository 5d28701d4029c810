"""What every TRL-trainer run (SFT, KTO, DPO) does with its run folder: log to metrics.jsonl,
stop on a time budget, resume, and publish the finished model in one move; and what it
must not do: call home.

These work under `accelerate launch` too: files are written by the world's process zero
only, and the time budget is agreed by all processes (one that stopped alone would leave
the others waiting in the next collective).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from training.lora import is_lora, publish_merged
from training.runs import RunFolder
from training.scalar_log import into_run_folder
from training.trainer_config import TrainerSettings

# Fields that only say how long or how often, or where figures also go: a run may be resumed
# with other values ("train 500 more steps"), so run.json's settings, which a resume must
# match, leave them out.
SCHEDULE_FIELDS = frozenset(
    {
        "epochs",
        "max_steps",
        "max_minutes",
        "logging_steps",
        "save_steps",
        "eval_steps",
        "report_to",
    }
)


class Offline:
    """Mixed into a TRL trainer: no usage ping. TRL 1.16's `_BaseTrainer.__init__` sends one
    to the Hub (`huggingface_hub.utils.send_telemetry`) unless HF_HUB_DISABLE_TELEMETRY or
    CI is set; replyloop trains behind firewalls and never reaches a hub."""

    def _send_telemetry(self) -> None:
        return None


def recorded_settings(config: Any) -> dict[str, Any]:
    """The settings that make a run what it is (what `RunFolder.start` compares)."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in SCHEDULE_FIELDS}


def use_bf16() -> bool:
    """bf16 mixed precision on a GPU that has it; float32 elsewhere (TRL's configs default
    to bf16=True, which on CPU means slow autocast for a model this small)."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


class RunLog(TrainerCallback):
    """Every dict the trainer logs (loss, eval_loss, learning_rate, grad_norm, epoch, ...)
    becomes a line of metrics.jsonl, at the trainer's global step."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        values = {
            k: float(v) for k, v in logs.items() if isinstance(v, int | float) and k != "step"
        }
        if values:
            self.run.log(state.global_step, **values)


class TimeBudget(TrainerCallback):
    """Stops training after `minutes` of it, with a checkpoint saved, so the model is still
    written and the run can be resumed. `accelerator` is the trainer's: its trigger is an
    all-reduce, so every process stops at the same step."""

    def __init__(self, minutes: float, accelerator: Any) -> None:
        self.seconds = minutes * 60.0
        self.accelerator = accelerator
        self.started = time.monotonic()
        self.stopped_early = False

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self.started = time.monotonic()

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.seconds <= 0:
            return
        if time.monotonic() - self.started >= self.seconds:
            self.accelerator.set_trigger()
        if self.accelerator.check_trigger():
            self.stopped_early = True
            control.should_training_stop = True
            control.should_save = True


def resume_from(run: RunFolder) -> str | None:
    checkpoint = run.latest_checkpoint()
    return str(checkpoint) if checkpoint else None


def publish_model(trainer: Any, run: RunFolder) -> None:
    """Save the model and tokenizer to run.model_dir without ever leaving a half-written
    folder there (the registry points at it): write beside it, then rename. A LoRA run
    writes its adapter to adapter/ and the adapter merged into its base to model/."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if is_lora(model):
        # Merged on process zero from its own copy: right for one device and for DDP,
        # whose copies agree (sharded weights, FSDP or ZeRO-3, are not gathered here).
        if trainer.is_world_process_zero():
            publish_merged(model, trainer.processing_class, run)
        trainer.accelerator.wait_for_everyone()
        return
    partial = run.model_dir.with_name(run.model_dir.name + ".partial")
    if trainer.is_world_process_zero() and partial.exists():
        shutil.rmtree(partial)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(partial))  # gathers sharded weights; writes on process zero
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        # Trainer.save_model also writes its TrainingArguments; a model folder does not need it.
        Path(partial, "training_args.bin").unlink(missing_ok=True)
        if run.model_dir.exists():
            shutil.rmtree(run.model_dir)
        os.replace(partial, run.model_dir)
    trainer.accelerator.wait_for_everyone()


def trainer_arguments(run: RunFolder, config: TrainerSettings, evaluating: bool) -> dict[str, Any]:
    """The TrainingArguments every TRL trainer of ours shares, from the settings they share
    (training.trainer_config): checkpoints in the run folder, the newest two kept, figures
    reported only where report_to says (into the run folder: scalar_log.into_run_folder),
    nothing pushed anywhere."""
    return {
        "output_dir": str(run.checkpoints),
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "max_length": config.max_length,
        "logging_steps": config.logging_steps,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,
        "eval_strategy": "steps" if config.eval_steps > 0 and evaluating else "no",
        "eval_steps": config.eval_steps if config.eval_steps > 0 else None,
        "seed": config.seed,
        "data_seed": config.seed,
        "gradient_checkpointing": config.gradient_checkpointing,
        "bf16": use_bf16(),
        "report_to": config.report_to,
        "push_to_hub": False,
    }


def last_logged(trainer: Any, keys: tuple[str, ...]) -> dict[str, float]:
    """The newest training log's values of `keys` (those it has); any TRL trainer's."""
    for logs in reversed(trainer.state.log_history):
        if any(key in logs for key in keys):
            return {key: float(logs[key]) for key in keys if key in logs}
    return {}


@dataclasses.dataclass(frozen=True)
class Figures:
    """What a run reports beside its loss: the last logged `train` keys, the `held_out`
    keys of an evaluation (None: nothing held out), and its own `counted` figures."""

    train: tuple[str, ...]
    held_out: tuple[str, ...] | None
    counted: dict[str, float]


def train_to_end(
    trainer: Any, run: RunFolder, max_minutes: float, figures: Figures, started: float
) -> dict[str, float]:
    """Train (from the run's newest checkpoint, within `max_minutes`), evaluate on the
    held-out rows, publish the model and finish run.json with the metrics returned."""
    trainer.add_callback(RunLog(run))
    into_run_folder(trainer, run)
    budget = TimeBudget(max_minutes, trainer.accelerator)
    trainer.add_callback(budget)
    result = trainer.train(resume_from_checkpoint=resume_from(run))
    metrics: dict[str, float] = {"train_loss": result.training_loss}
    metrics.update(last_logged(trainer, figures.train))
    if figures.held_out is not None:
        evaluated = trainer.evaluate()
        metrics.update({k: float(evaluated[k]) for k in figures.held_out if k in evaluated})
    metrics.update(figures.counted)
    metrics["steps"] = float(trainer.state.global_step)
    metrics["stopped_by_time"] = float(budget.stopped_early)
    publish_model(trainer, run)
    metrics["seconds"] = round(time.monotonic() - started, 3)
    if trainer.is_world_process_zero():
        run.finish(metrics)
    return metrics
