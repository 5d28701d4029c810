"""Settings of `replyloop train dpo`; each documented field is also a command-line option
(the shared ones in training.trainer_config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from training.trainer_config import TrainerSettings, learning_rate

# TRL 1.16's DPOTrainer's loss types (trl/trainer/dpo_trainer.py), named here so that the
# command line refuses another before the data is read, without importing TRL to parse it.
LOSS_TYPES = (
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
    "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
)  # fmt: skip


@dataclass(frozen=True)
class DpoConfig(TrainerSettings):
    learning_rate: float = learning_rate(1e-6)
    beta: float = field(
        default=0.1,
        metadata={"help": "DPO's beta: higher keeps the policy closer to the starting model"},
    )
    loss_type: str = field(
        default="sigmoid",
        metadata={
            "help": "TRL's DPO loss: sigmoid is DPO's -logsigmoid(r_chosen - r_rejected)",
            "choices": LOSS_TYPES,
        },
    )
    label_smoothing: float = field(
        default=0.0,
        metadata={"help": "the share of pairs taken to be flipped (robust DPO; 0: none)"},
    )
