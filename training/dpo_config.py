"""Settings of `replyloop train dpo`; each documented field is also a command-line option."""

from __future__ import annotations

from dataclasses import dataclass, field

# TRL 1.16's DPOTrainer's loss types (trl/trainer/dpo_trainer.py), named here so that the
# command line refuses another before the data is read, without importing TRL to parse it.
LOSS_TYPES = (
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
    "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
)  # fmt: skip


@dataclass(frozen=True)
class DpoConfig:
    learning_rate: float = field(default=1e-6, metadata={"help": "AdamW's peak learning rate"})
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
    epochs: float = field(
        default=1.0, metadata={"help": "passes over the pairs, if max_steps is -1"}
    )
    max_steps: int = field(
        default=-1, metadata={"help": "optimizer steps to train for; -1: by epochs"}
    )
    batch_size: int = field(
        default=8, metadata={"help": "pairs per device per forward pass", "min": 1}
    )
    grad_accum: int = field(
        default=1, metadata={"help": "forward passes summed into one optimizer step"}
    )
    max_length: int = field(
        default=512,
        metadata={"help": "tokens per prompt and reply; a longer one loses its end"},
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
    seed: int = field(default=0, metadata={"help": "seed for the order of the pairs"})
    gradient_checkpointing: bool = field(
        default=False,
        metadata={"help": "recompute activations in the backward pass: less memory, slower"},
    )
