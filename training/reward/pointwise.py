"""Pointwise phase: unpaired 👍/👎 votes (the `kto` export) on the same reward model.

TRL has no reward trainer for unpaired labels, so this is a short one. The classifier's
output r(x, y) is read as a logit of "👍": binary cross-entropy is -logsigmoid(r) for a 👍
and -logsigmoid(-r) for a 👎. After the pairwise phase (which fixes only differences of r)
this also anchors the scale: r > 0 reads as "people would like this".

Votes are usually unbalanced (people click 👍 far more often), so by default each class is
weighted to count half of the loss (n / (2 n_class) per vote); otherwise a model that
scores everything high would already be near the minimum. Within that, each vote row
counts by its weight (its margin and model version: training.data.weights), so a 3-0
reply pulls harder than a 2-1 one.

Checkpoints are `checkpoints/checkpoint-N/pointwise.pt` (model, optimizer, step), N
continuing the pairwise phase's step count so that the newest checkpoint is the latest state.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from training.data.exports import TrlRow
from training.reward.metrics import evaluate
from training.reward.rm_config import RmConfig
from training.reward.rows import vote_reply
from training.runs import RunFolder
from training.scalar_log import ScalarLog
from training.scoring import conversation_text, encode_scored, sequence_scores

STATE_FILE = "pointwise.pt"


def is_pointwise_checkpoint(path: Path | None) -> bool:
    return path is not None and (path / STATE_FILE).is_file()


def vote_loss(scores: torch.Tensor, liked: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted binary cross-entropy with the score as the logit. All (B,)."""
    per_vote = torch.where(liked, -F.logsigmoid(scores), -F.logsigmoid(-scores))  # (B,)
    return (weights * per_vote).mean()


def class_weights(
    labels: Sequence[bool], balance: bool, rows: Sequence[float] | None = None
) -> torch.Tensor:
    """Each vote's loss weight: its row weight (`rows`, mean 1; all 1 without), scaled when
    balancing so that each class's weights sum to half of the total (mean weight 1).

    >>> class_weights([True, True, True, False], balance=True)
    tensor([0.6667, 0.6667, 0.6667, 2.0000])
    >>> class_weights([True, True, False, False], balance=True, rows=[1.5, 0.5, 1.0, 1.0])
    tensor([1.5000, 0.5000, 1.0000, 1.0000])
    >>> class_weights([True, True, False], balance=False, rows=[1.5, 0.5, 1.0])
    tensor([1.5000, 0.5000, 1.0000])
    """
    weights = torch.ones(len(labels)) if rows is None else torch.tensor(rows, dtype=torch.float)
    liked = torch.tensor(labels, dtype=torch.bool)
    up, down = weights[liked].sum(), weights[~liked].sum()
    if not balance or up == 0 or down == 0:
        return weights
    total = up + down
    return torch.where(liked, weights * total / (2 * up), weights * total / (2 * down))


def micro_batches(count: int, config: RmConfig) -> list[list[int]]:
    """Vote indices, batch by batch, for all epochs: the same list on every run (seeded),
    so a resumed run skips the batches it has done."""
    generator = torch.Generator().manual_seed(config.seed)
    per_epoch = math.ceil(count / config.batch_size)
    batches: list[list[int]] = []
    for _ in range(math.ceil(config.vote_epochs)):
        order = torch.randperm(count, generator=generator).tolist()
        batches += [order[i : i + config.batch_size] for i in range(0, count, config.batch_size)]
    return batches[: max(1, round(config.vote_epochs * per_epoch))]


def save(run: RunFolder, model: Any, optimizer: Any, step: int, first_step: int) -> None:
    """Write checkpoint-N atomically (a folder renamed into place), keeping the newest two."""
    final = run.checkpoints / f"checkpoint-{first_step + step}"
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "first_step": first_step,
    }
    torch.save(state, partial / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    ours = sorted(
        (int(path.name.split("-")[-1]), path)
        for path in run.checkpoints.glob("checkpoint-*")
        if path.name.split("-")[-1].isdigit() and is_pointwise_checkpoint(path)
    )
    for _, old in ours[:-2]:
        shutil.rmtree(old)


def train_pointwise(
    model: Any,
    tokenizer: Any,
    run: RunFolder,
    votes: Sequence[TrlRow],
    held_out: Sequence[TrlRow],
    config: RmConfig,
    minutes: float = 0.0,
    first_step: int = 0,
    resume: Path | None = None,
    starting: str | None = None,
) -> tuple[int, bool]:
    """Train `model` in place for at most `minutes` (0: no limit), resuming from the
    checkpoint `resume`; steps are logged as first_step + n. `starting` is the version of
    the model trained from (the current version, unless the config names one). Returns
    (the last step, stopped by the budget?)."""
    deadline = time.monotonic() + 60 * minutes if minutes > 0 else None
    device = next(model.parameters()).device
    prompts, replies, labels = zip(*(vote_reply(row) for row in votes), strict=True)
    texts = [conversation_text(tokenizer, p, r) for p, r in zip(prompts, replies, strict=True)]
    liked = torch.tensor(labels)  # (N,)
    weights = class_weights(labels, config.balance_votes, config.weights(votes, starting))  # (N,)
    batches = micro_batches(len(texts), config)
    total = math.ceil(len(batches) / config.grad_accum)

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
    step = saved = 0
    if resume is not None:
        state = torch.load(resume / STATE_FILE, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = saved = state["step"]
        first_step = state["first_step"]

    model.train()
    out_of_time = False
    losses: list[float] = []
    board = ScalarLog(run, config.report_to)
    progress = tqdm(total=total, initial=step, desc="votes", unit="step")
    while step < total:
        for group in optimizer.param_groups:  # linear decay to 0, as TRL's default schedule
            group["lr"] = config.learning_rate * (1 - step / total)
        optimizer.zero_grad()
        group_batches = batches[step * config.grad_accum : (step + 1) * config.grad_accum]
        loss_sum = 0.0
        for batch in group_batches:
            ids, mask = encode_scored(tokenizer, [texts[i] for i in batch], config.max_length)
            scores = sequence_scores(model, ids.to(device), mask.to(device))  # (B,)
            loss = vote_loss(scores, liked[batch].to(device), weights[batch].to(device))
            (loss / len(group_batches)).backward()
            loss_sum += loss.item() / len(group_batches)
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        step += 1
        progress.update(1)
        losses.append(loss_sum)
        if step % config.logging_steps == 0 or step == total:
            logged = {
                "vote_loss": sum(losses) / len(losses),
                "vote_grad_norm": float(grad_norm),
                "vote_learning_rate": optimizer.param_groups[0]["lr"],
                "vote_epoch": step * config.grad_accum / math.ceil(len(texts) / config.batch_size),
            }
            run.log(first_step + step, **logged)
            board.log(first_step + step, logged)
            losses = []
        if config.eval_steps > 0 and held_out and step % config.eval_steps == 0:
            held = evaluate(model, tokenizer, [], held_out, config.max_length)
            evaluated = {f"eval_{k}": v for k, v in held.items()}
            run.log(first_step + step, **evaluated)
            board.log(first_step + step, evaluated)
        if step % config.save_steps == 0 or step == total:
            save(run, model, optimizer, step, first_step)
            saved = step
        if deadline is not None and time.monotonic() >= deadline and step < total:
            out_of_time = True  # after a step, as TRL's trainer: every run makes progress
            break
    progress.close()
    board.close()
    if step > saved:  # stopped by the time budget between two saves
        save(run, model, optimizer, step, first_step)
    return first_step + step, out_of_time
