"""Settings of `replyloop train sft`; each documented field is also a command-line option."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SftConfig:
    learning_rate: float = field(default=2e-5, metadata={"help": "AdamW's peak learning rate"})
    epochs: float = field(
        default=1.0, metadata={"help": "passes over the data, if max_steps is -1"}
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
        metadata={"help": "steps between held-out evaluations; 0: only before and after training"},
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
