"""Settings of `replyloop train kto`; each documented field is also a command-line option
(the shared ones in training.trainer_config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from training.data.weights import VoteWeighting
from training.trainer_config import TrainerSettings, learning_rate


@dataclass(frozen=True)
class KtoConfig(TrainerSettings, VoteWeighting):
    learning_rate: float = learning_rate(5e-6)
    batch_size: int = field(
        default=8,
        metadata={
            "help": "votes per device per forward pass; at least 2 (KTO's KL estimate)",
            "min": 2,
        },
    )
    beta: float = field(
        default=0.1,
        metadata={"help": "KTO's beta: higher keeps the policy closer to the starting model"},
    )
    desirable_weight: float = field(
        default=0.0,
        metadata={"help": "loss weight of 👍 replies; 0: set from the 👍/👎 balance"},
    )
    undesirable_weight: float = field(
        default=0.0,
        metadata={"help": "loss weight of 👎 replies; 0: set from the 👍/👎 balance"},
    )
