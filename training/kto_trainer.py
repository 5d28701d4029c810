"""`replyloop train kto`: the policy learns straight from 👍/👎 with TRL's KTOTrainer, for
teams that skip the reward model.

Rows are exactly what `replyloop feedback export --format kto` writes (TRL's conversational
unpaired preference rows): {"prompt": [...], "completion": [one assistant message],
"label": true|false}. The reference model is the starting policy, loaded again and frozen
(also on a resumed run: the reference never moves).

Per batch, KTO rewards a completion by r = beta * (log pi(y|x) - log pi_ref(y|x)) and
estimates the KL term z from the same batch's completions paired with other prompts:
    👍 loss: 1 - sigmoid(r - z)        👎 loss: 1 - sigmoid(z - r)
TRL 1.16 builds those mismatched pairs once, for consecutive rows, and therefore samples
the data in order: the votes are shuffled (seeded) here, so a batch is not all one label
just because the export was ordered by time.

A vote row's weight (its margin, and its model version: training.data.weights) is given
by repeating the row, 1 to 4 times: TRL's KTOTrainer takes a weight per label
(desirable_weight, undesirable_weight), not per row, and its KL estimate and loss read
rows only through its own collator. The 👍/👎 balance is counted after the repetition.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

from trl import KTOConfig, KTOTrainer

from training.data.chitchat import DataError
from training.data.exports import TrlRow, check_vote
from training.data.weights import copies
from training.kto_config import KtoConfig
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

KIND = "kto"
# What TRL logs during training (averaged over the logging interval) that train_kto returns.
TRAIN_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "kl")
EVAL_METRICS = ("eval_loss", *(f"eval_{key}" for key in TRAIN_METRICS))


class KtoTrainer(Offline, KTOTrainer):
    """TRL's KTOTrainer, silent towards the Hub."""


def count_labels(rows: list[dict[str, Any]], what: str) -> tuple[int, int]:
    """(👍, 👎) counts of vote rows, each checked to be a kto export row."""
    for number, row in enumerate(rows, 1):
        try:
            check_vote(row)
        except ValueError as exc:
            raise ValueError(f"{what} row {number} is not a kto vote row: {exc}") from None
    liked = sum(row["label"] for row in rows)
    return liked, len(rows) - liked


def balance_weights(liked: int, disliked: int, config: KtoConfig) -> tuple[float, float]:
    """(desirable_weight, undesirable_weight). TRL's KTO docs (after the KTO paper, eq. 8)
    ask for desirable_weight * 👍 / (undesirable_weight * 👎) between 1 and 4/3. A weight
    left at 0 is chosen to make that ratio 1; with both at 0 the commoner label keeps 1.0
    and the rarer one is raised.

    >>> balance_weights(30, 10, KtoConfig())
    (1.0, 3.0)
    >>> balance_weights(10, 40, KtoConfig())
    (4.0, 1.0)
    >>> balance_weights(30, 10, KtoConfig(desirable_weight=0.5))
    (0.5, 1.5)
    >>> balance_weights(30, 10, KtoConfig(desirable_weight=1.0, undesirable_weight=1.0))
    (1.0, 1.0)
    """
    desirable, undesirable = config.desirable_weight, config.undesirable_weight
    if desirable == 0 and undesirable == 0:
        if liked >= disliked:
            desirable = 1.0
        else:
            undesirable = 1.0
    if desirable == 0:
        desirable = undesirable * disliked / liked
    if undesirable == 0:
        undesirable = desirable * liked / disliked
    return round(desirable, 4), round(undesirable, 4)


def weighted_rows(rows: list[TrlRow], config: KtoConfig, parent: str | None) -> list[TrlRow]:
    """TRL's fields of each vote row (its own columns alone reach the trainer), each row
    repeated as its weight says (training.data.weights.copies)."""
    repeat = copies(config.weights(rows, parent))
    return [trl_vote(row) for row, n in zip(rows, repeat, strict=True) for _ in range(n)]


def trl_vote(row: TrlRow) -> TrlRow:
    return {"prompt": row["prompt"], "completion": row["completion"], "label": row["label"]}


def make_trainer(
    policy_dir: Path,
    run: RunFolder,
    rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    config: KtoConfig,
    weights: tuple[float, float],
    lora: LoraOptions = NO_LORA,
) -> KtoTrainer:
    """The KTOTrainer for this run, its votes tokenised, before any step."""
    # The KL estimate pairs each completion with another row's prompt in the same batch.
    if config.batch_size < 2:
        raise ValueError("KTO needs batch_size of at least 2 (its KL estimate)")
    order = random.Random(config.seed)
    train = rows.copy()
    order.shuffle(train)
    held_out = eval_rows.copy()
    order.shuffle(held_out)
    desirable_weight, undesirable_weight = weights
    args = KTOConfig(
        **trainer_arguments(run, config, evaluating=bool(eval_rows)),
        beta=config.beta,
        desirable_weight=desirable_weight,
        undesirable_weight=undesirable_weight,
    )
    return against_reference(KtoTrainer, policy_dir, args, train, held_out, lora)


def train_kto(
    policy_dir: Path,
    run: RunFolder,
    rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    config: KtoConfig,
    data: list[DataSource],
    parent: str | None,
    lora: LoraOptions = NO_LORA,
) -> dict[str, float]:
    """Train the policy in `policy_dir` on 👍/👎 `rows` into `run`, resuming its newest
    checkpoint if there is one. Returns train_loss, the last logged rewards/chosen,
    rewards/rejected, rewards/margins and kl, the weights used, steps and seconds; and
    eval_loss, eval_rewards/* and eval_kl on `eval_rows` when there are any."""
    started = time.monotonic()
    count_labels(rows, "training")
    count_labels(eval_rows, "held-out")
    voted = len(rows)
    rows, eval_rows = weighted_rows(rows, config, parent), [trl_vote(r) for r in eval_rows]
    liked, disliked = count_labels(rows, "training")
    if liked == 0 or disliked == 0:
        raise DataError(
            f"KTO needs both 👍 and 👎 votes; the training rows hold {liked} 👍 and "
            f"{disliked} 👎 (with one kind only, train sft on the liked replies instead)"
        )
    weights = balance_weights(liked, disliked, config)
    trainer = make_trainer(policy_dir, run, rows, eval_rows, config, weights, lora)
    main = trainer.is_world_process_zero()
    balance = {
        "votes": float(voted),
        "votes_liked": float(liked),  # with the repeats that weight them
        "votes_disliked": float(disliked),
        "desirable_weight": weights[0],
        "undesirable_weight": weights[1],
    }
    if main:
        record_trainer(trainer, run, lora)
        run.start(KIND, parent, data, recorded_settings(config), config.seed)
        given = config.desirable_weight > 0 and config.undesirable_weight > 0
        print(
            f"kto: {liked} 👍 and {disliked} 👎: desirable_weight={weights[0]}, "
            f"undesirable_weight={weights[1]}, "
            + ("as given" if given else "set so weighted 👍 / weighted 👎 = 1 (TRL's KTO docs)"),
            file=sys.stderr,
        )
        run.log(trainer.state.global_step, **balance)
    held_out = EVAL_METRICS if eval_rows else None
    figures = Figures(TRAIN_METRICS, held_out, balance)
    return train_to_end(trainer, run, config.max_minutes, figures, started)
