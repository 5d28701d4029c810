"""Settings of `replyloop train rm`; each documented field is also a command-line option."""

from __future__ import annotations

from dataclasses import dataclass, field

from training.data.split import PARTS
from training.data.weights import VoteWeighting
from training.trainer_config import Reporting


@dataclass(frozen=True)
class RmConfig(VoteWeighting, Reporting):
    """Defaults train the whole model. On a CPU, measured here (SmolLM2-135M-Instruct, the
    2-core machine to itself, chitchat response selection, 300 held-out pairs):
    `--limit 3000 --freeze-layers 24 --learning-rate 3e-4 --max-length 128` ran ~3-4 s a step
    (8 pairs) and went from 49.7% to 83.0% held-out accuracy in one epoch, 375 steps, 26
    minutes (bench/RESULTS.md); the same at --learning-rate 1e-4 --max-length 256 reached
    67% in 104 steps."""

    learning_rate: float = field(
        default=1e-4, metadata={"help": "AdamW learning rate (decays linearly to 0)"}
    )
    batch_size: int = field(
        default=8, metadata={"help": "pairs (or votes) per forward pass; a pair is two sequences"}
    )
    grad_accum: int = field(default=1, metadata={"help": "forward passes per optimizer step"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the pairs"})
    vote_epochs: float = field(
        default=2.0, metadata={"help": "passes over the votes (usually far fewer than pairs)"}
    )
    max_steps: int = field(
        default=-1, metadata={"help": "stop the pairwise phase after this many steps (-1: epochs)"}
    )
    max_length: int = field(
        default=256,
        metadata={"help": "tokens per sequence; a longer one keeps its end (the reply)"},
    )
    freeze_layers: int = field(
        default=0,
        metadata={"help": "freeze the embeddings and this many lowest layers (0: none)"},
    )
    max_minutes: float = field(
        default=0.0,
        metadata={"help": "stop training (saved, resumable) after this many minutes (0: none)"},
    )
    logging_steps: int = field(default=10, metadata={"help": "steps between metrics rows"})
    eval_steps: int = field(
        default=0, metadata={"help": "steps between held-out evaluations (0: only at the end)"}
    )
    save_steps: int = field(default=100, metadata={"help": "steps between checkpoints"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm"})
    balance_votes: bool = field(
        default=True,
        metadata={"help": "weight 👍 and 👎 so each class counts half of the pointwise loss"},
    )
    center_rewards_coefficient: float = field(
        default=0.0,
        metadata={"help": "pull rewards towards 0 (TRL; 0.01 is usual; 0: off)"},
    )
    seed: int = field(default=0, metadata={"help": "random seed (head init, data order)"})
    train_part: str = field(
        default="all",
        metadata={
            "help": "train on all training conversations, or on one of two disjoint halves "
            "(a, b): PPO's reward model on a and the judge `replyloop eval` uses on b learn "
            "from no conversation in common",
            "choices": PARTS,
        },
    )
