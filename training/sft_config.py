"""Settings of `replyloop train sft`; each documented field is also a command-line option
(the shared ones in training.trainer_config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from training.trainer_config import TrainerSettings, learning_rate


@dataclass(frozen=True)
class SftConfig(TrainerSettings):
    learning_rate: float = learning_rate(2e-5)
    eval_steps: int = field(
        default=0,
        metadata={"help": "steps between held-out evaluations; 0: only before and after training"},
    )
