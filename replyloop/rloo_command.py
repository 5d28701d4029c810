"""`replyloop train rloo`: its options, and its prompts loaded, split and trained on (wired
in replyloop.train_commands like every trainer)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from core.settings import Settings
from core.store import Store
from replyloop.model_refs import ModelRef, model_ref
from training.config_cli import add_config_arguments, config_from_args
from training.data.builders import RowShape
from training.data.chitchat import NAME as CHITCHAT
from training.lora_options import LoraOptions
from training.rloo_config import RlooConfig
from training.runs import HeldOut, RunFolder

if TYPE_CHECKING:  # the data modules are imported when a command runs (no torch at start)
    from training.data.sources import Split


def add_parser(tsub: Any) -> argparse.ArgumentParser:
    """The `rloo` subcommand on `train`'s subparsers (the data options are added by the
    caller, as for every trainer)."""
    rloo = tsub.add_parser(
        "rloo", help="RLOO against a reward model (TRL RLOOTrainer): no value model"
    )
    rloo.add_argument(
        "--policy", required=True, help="the model to start from (also the KL reference)"
    )
    rloo.add_argument(
        "--reward", required=True, help="the reward model (a `train rm` run) that scores replies"
    )
    rloo.add_argument(
        "--prompts",
        action="append",
        help=f"'{CHITCHAT}' or an export file of any format (a kto export: the prompts "
        f"people voted on); repeatable (default: {CHITCHAT})",
    )
    add_config_arguments(rloo, RlooConfig)
    add_config_arguments(rloo, LoraOptions)
    return rloo


def split_prompts(
    names: list[str], limit: int | None, percent: float, context_turns: int, seed: int
) -> Split:
    """The distinct prompts of `names`, split by conversation as every trainer's data."""
    from training.data.sources import prompts

    return prompts(names, limit, percent, RowShape(context_turns=context_turns), seed)


def train(
    settings: Settings, store: Store, args: argparse.Namespace, run: RunFolder
) -> tuple[dict[str, float], ModelRef]:
    """RLOO into `run` on the prompts `args` name: metrics and the start model."""
    from replyloop.commands import UsageError  # here: replyloop.commands imports this module
    from training.rloo_trainer import train_rloo

    try:
        config = config_from_args(args, RlooConfig)
    except ValueError as exc:  # settings that parse but do not fit together
        raise UsageError(str(exc)) from None
    base = model_ref(args.policy, settings, store)
    reward = model_ref(args.reward, settings, store)
    percent = args.held_out_percent
    split = split_prompts(
        args.prompts or [CHITCHAT], args.limit or None, percent, args.context_turns, config.seed
    )
    run.held_out = HeldOut(percent, split.key)
    metrics = train_rloo(
        base.path,
        reward.path,
        run,
        [row["prompt"] for row in split.train],
        [row["prompt"] for row in split.held_out],
        config,
        split.sources,
        base.version,
        config_from_args(args, LoraOptions),
    )
    return metrics, base
