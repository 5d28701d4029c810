"""`replyloop train rm`: a reward model from the policy, on pairs, then on votes.

    base policy ─► sequence classifier (new one-output head)
                 ─► pairwise phase (TRL RewardTrainer)   if pairs
                 ─► pointwise phase (BCE on 👍/👎)        if votes
                 ─► held-out pairwise accuracy and vote AUC (and the same before training)
                 ─► run.model_dir (loadable by training.models.load_scorer)

With --lora-r the backbone gets LoRA adapters and the head (`score`, new) is trained whole
(PEFT's modules_to_save); model/ is then the adapters merged in, adapter/ the adapters.

A run started again on the same folder resumes from its newest checkpoint: a TRL one
continues the pairwise phase, a pointwise one (pointwise.pt) the vote phase.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from training.data.chitchat import DataError
from training.data.exports import TrlRow
from training.encoder import is_encoder
from training.lora import NO_LORA, LoraOptions, is_lora, publish_merged, record, with_adapters
from training.models import freeze_lower, load_scorer, load_tokenizer
from training.reward.metrics import evaluate
from training.reward.pairwise import train_pairwise
from training.reward.pointwise import is_pointwise_checkpoint, train_pointwise
from training.reward.rm_config import RmConfig
from training.run_callbacks import recorded_settings
from training.runs import DataSource, RunFolder

KIND = "rm"


def disable_dropout(model: Any) -> None:
    """As TRL does for reward models: the same text must get the same score."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


def baseline(
    run: RunFolder,
    model: Any,
    tokenizer: Any,
    pairs: list[TrlRow],
    votes: list[TrlRow],
    max_length: int,
) -> dict[str, float]:
    """The untrained model's held-out measures, logged once (a resumed run reads them back)."""
    for row in run.metrics():
        if row.get("baseline"):
            return {k: v for k, v in row.items() if k.endswith("_before")}
    measured = evaluate(model, tokenizer, pairs, votes, max_length)
    before = {f"{k}_before": v for k, v in measured.items() if k not in ("pairs", "votes")}
    run.log(0, baseline=1.0, **before)
    return before


def publish(model: Any, tokenizer: Any, run: RunFolder) -> None:
    """Write model/ beside itself, then rename: never a half-written folder there."""
    if is_lora(model):
        publish_merged(model, tokenizer, run)
        return
    partial = run.model_dir.with_name(run.model_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(run.model_dir, ignore_errors=True)
    os.replace(partial, run.model_dir)


def train_rm(
    base_dir: Path,
    run: RunFolder,
    pairs: list[dict[str, Any]],
    votes: list[dict[str, Any]],
    held_out_pairs: list[dict[str, Any]],
    held_out_votes: list[dict[str, Any]],
    config: RmConfig,
    data: list[DataSource],
    parent: str | None,
    lora: LoraOptions = NO_LORA,
) -> dict[str, float]:
    """Train, evaluate and save a reward model into `run`; returns the final metrics."""
    if not pairs and not votes:
        raise DataError("a reward model needs pairs or votes to train on; both are empty")
    # A resume may change how long it trains (vote_epochs too), not what it trains.
    settings = {k: v for k, v in recorded_settings(config).items() if k != "vote_epochs"}

    torch.manual_seed(config.seed)  # the new score head's (and adapters') initial weights
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = load_tokenizer(base_dir)
    model = load_scorer(base_dir, device)
    if lora.enabled and is_encoder(model):
        raise DataError(
            f"--lora-r is for reward models made from a policy; {base_dir} is an encoder's, "
            "small enough to train whole (or freeze its lower layers: --freeze-layers)"
        )
    if lora.enabled:  # a checkpoint's adapters are loaded by the phase that resumes it
        model = with_adapters(model, lora, "SEQ_CLS", heads=("score",))
    disable_dropout(model)  # LoRA's dropout too: a reward model scores deterministically
    freeze_lower(model, config.freeze_layers)  # a LoRA model's adapters too
    if lora.enabled:
        run.lora = record(model, lora)
    run.start(KIND, parent, data, settings, config.seed)
    before = baseline(run, model, tokenizer, held_out_pairs, held_out_votes, config.max_length)

    started = time.monotonic()

    def minutes_left() -> float:  # max_minutes covers both phases; 0 means no limit
        if config.max_minutes <= 0:
            return 0.0
        return max(config.max_minutes - (time.monotonic() - started) / 60, 1e-9)

    latest = run.latest_checkpoint()
    step, out_of_time = 0, False
    if pairs and not is_pointwise_checkpoint(latest):
        step, out_of_time = train_pairwise(
            model, tokenizer, run, pairs, held_out_pairs, config, minutes_left()
        )
    if votes and not out_of_time:
        resume = latest if is_pointwise_checkpoint(latest) else None
        step, out_of_time = train_pointwise(
            model, tokenizer, run, votes, held_out_votes, config, minutes_left(), step, resume,
            parent,
        )  # fmt: skip

    seconds = round(time.monotonic() - started, 3)  # training time of this invocation
    after = evaluate(model, tokenizer, held_out_pairs, held_out_votes, config.max_length)
    tokenizer.model_max_length = config.max_length  # what every later scoring keeps (scoring.py)
    publish(model, tokenizer, run)
    metrics = {
        **after,
        **before,
        "train_pairs": len(pairs),
        "train_votes": len(votes),
        "steps": step,
        "stopped_by_time": float(out_of_time),
        "seconds": seconds,
    }
    run.log(step, **metrics)
    run.finish(metrics)
    return metrics
