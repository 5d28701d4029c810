"""The settings every TRL trainer of ours shares (sft, kto, dpo, rloo): one dataclass that each
trainer's config extends, so each is one command-line option in one place
(training.config_cli), mapped onto TRL's arguments in one place
(training.run_callbacks.trainer_arguments).

A trainer redeclares a field only where it really differs: its learning rate's default,
or a bound (KTO's batch of at least 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def learning_rate(default: float) -> Any:
    """The learning_rate field with a trainer's own default."""
    return field(default=default, metadata={"help": "AdamW's peak learning rate"})


def missing_eos_penalty() -> Any:
    """The missing_eos_penalty field of the trainers that sample replies (ppo, rloo)."""
    return field(
        default=0.0,
        metadata={
            "help": "subtracted from the score of a reply cut off before end-of-turn, as in "
            "TRL (0 = off; TRL's examples use 1.0)",
            "min": 0.0,
        },
    )


REPORT_TO = ("none", "tensorboard")


@dataclass(frozen=True)
class Reporting:
    """Where a run's figures go besides metrics.jsonl; every trainer's option (how a run
    reports is not what it is: a resume may change it)."""

    report_to: str = field(
        default="none",
        metadata={
            "help": "also write the logged figures where this says: tensorboard, event files "
            "in OUT/tensorboard (`tensorboard --logdir OUT/tensorboard`)",
            "choices": REPORT_TO,
        },
    )


@dataclass(frozen=True)
class TrainerSettings(Reporting):
    learning_rate: float = learning_rate(2e-5)
    epochs: float = field(
        default=1.0, metadata={"help": "passes over the training rows, if max_steps is -1"}
    )
    max_steps: int = field(
        default=-1, metadata={"help": "optimizer steps to train for; -1: by epochs"}
    )
    batch_size: int = field(
        default=8, metadata={"help": "rows per device per forward pass", "min": 1}
    )
    grad_accum: int = field(
        default=1, metadata={"help": "forward passes summed into one optimizer step"}
    )
    max_length: int = field(
        default=512,
        metadata={"help": "tokens per row (prompt and reply); a longer row loses its end"},
    )
    logging_steps: int = field(
        default=10, metadata={"help": "steps between lines in metrics.jsonl"}
    )
    save_steps: int = field(default=200, metadata={"help": "steps between resumable checkpoints"})
    eval_steps: int = field(
        default=0,
        metadata={"help": "steps between held-out evaluations; 0: only after training"},
    )
    max_minutes: float = field(
        default=0.0,
        metadata={"help": "stop cleanly (checkpoint and model saved) after this long; 0: no limit"},
    )
    seed: int = field(default=0, metadata={"help": "seed for the data order and initialisation"})
    gradient_checkpointing: bool = field(
        default=False,
        metadata={"help": "recompute activations in the backward pass: less memory, slower"},
    )
