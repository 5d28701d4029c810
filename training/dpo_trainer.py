"""`replyloop train dpo`: the policy learns from preference pairs with TRL's DPOTrainer,
without a reward model: the 🔄 pairs of a `pairs` export, pairs mined from 👍/👎 votes in
one context (training.data.vote_pairs), or chitchat's response-selection pairs.

Rows are TRL's conversational preference rows: {"prompt": [...], "chosen": [one assistant
message], "rejected": [one assistant message]}. The reference model is the starting
policy, loaded again and frozen (also on a resumed run: the reference never moves).

Per pair, DPO's implicit reward of a reply is r = beta * (log pi(y|x) - log pi_ref(y|x)),
and the loss (loss_type "sigmoid", the DPO paper's eq. 7) is
    -logsigmoid(r_chosen - r_rejected)
TRL logs rewards/chosen, rewards/rejected, their margin and how often r_chosen is the
larger (rewards/accuracies).

Vote margins (training.data.weights) are not used: TRL's DPOTrainer takes no weight per
pair, and a pair already says only which reply won, not by how much. Every pair counts once.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

from trl import DPOConfig, DPOTrainer

from training.data.chitchat import DataError
from training.data.exports import TrlRow, check_pair
from training.dpo_config import DpoConfig
from training.lora import NO_LORA, LoraOptions, record_trainer
from training.reference_trainer import against_reference
from training.run_callbacks import (
    Figures,
    Offline,
    recorded_settings,
    train_to_end,
    trainer_arguments,
)
from training.runs import DataSource, RunFolder

KIND = "dpo"
# What TRL logs during training (averaged over the logging interval) that train_dpo returns.
TRAIN_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")
EVAL_METRICS = ("eval_loss", *(f"eval_{key}" for key in TRAIN_METRICS))


class DpoTrainer(Offline, DPOTrainer):
    """TRL's DPOTrainer, silent towards the Hub."""


def trl_pairs(rows: list[dict[str, Any]], what: str) -> list[TrlRow]:
    """TRL's fields of each row (its own columns alone reach the trainer), each checked to
    be a pairs row."""
    for number, row in enumerate(rows, 1):
        try:
            check_pair(row)
        except ValueError as exc:
            raise ValueError(f"{what} row {number} is not a pairs row: {exc}") from None
    return [{key: row[key] for key in ("prompt", "chosen", "rejected")} for row in rows]


def make_trainer(
    policy_dir: Path,
    run: RunFolder,
    rows: list[TrlRow],
    eval_rows: list[TrlRow],
    config: DpoConfig,
    lora: LoraOptions = NO_LORA,
) -> DpoTrainer:
    """The DPOTrainer for this run, its pairs tokenised, before any step."""
    # Mined pairs come grouped by context: shuffled (seeded), a batch mixes conversations.
    order = random.Random(config.seed)
    train = rows.copy()
    order.shuffle(train)
    args = DPOConfig(
        **trainer_arguments(run, config, evaluating=bool(eval_rows)),
        beta=config.beta,
        loss_type=[config.loss_type],
        label_smoothing=config.label_smoothing,
    )
    return against_reference(DpoTrainer, policy_dir, args, train, eval_rows, lora)


def train_dpo(
    policy_dir: Path,
    run: RunFolder,
    rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    config: DpoConfig,
    data: list[DataSource],
    parent: str | None,
    lora: LoraOptions = NO_LORA,
) -> dict[str, float]:
    """Train the policy in `policy_dir` on preference `rows` into `run`, resuming its
    newest checkpoint if there is one. Returns train_loss, the last logged rewards/chosen,
    rewards/rejected, rewards/margins and rewards/accuracies, the pair count, steps and
    seconds; and eval_loss and eval_rewards/* on `eval_rows` when there are any."""
    started = time.monotonic()
    train, held_out = trl_pairs(rows, "training"), trl_pairs(eval_rows, "held-out")
    if not train:
        raise DataError(
            f"DPO needs preference pairs to train on; the training part holds none "
            f"({len(held_out)} held out)"
        )
    trainer = make_trainer(policy_dir, run, train, held_out, config, lora)
    main = trainer.is_world_process_zero()
    counted = {"pairs": float(len(train)), "pairs_held_out": float(len(held_out))}
    if main:
        record_trainer(trainer, run, lora)
        run.start(KIND, parent, data, recorded_settings(config), config.seed)
        print(f"dpo: {len(train)} pairs, {len(held_out)} held out", file=sys.stderr)
        run.log(trainer.state.global_step, **counted)
    figures = Figures(TRAIN_METRICS, EVAL_METRICS if held_out else None, counted)
    return train_to_end(trainer, run, config.max_minutes, figures, started)
