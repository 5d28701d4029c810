"""`replyloop train dpo`: its options, and its data loaded, split and trained on (wired in
replyloop.train_commands like every trainer)."""

from __future__ import annotations

import argparse
from typing import Any

from core.settings import Settings
from core.store import Store
from replyloop.model_refs import ModelRef, model_ref
from training.config_cli import add_config_arguments, config_from_args
from training.data.builders import RowShape
from training.data.chitchat import NAME as CHITCHAT
from training.data.chitchat import DataError
from training.dpo_config import DpoConfig
from training.lora_options import LoraOptions
from training.runs import HeldOut, RunFolder


def add_parser(tsub: Any) -> argparse.ArgumentParser:
    """The `dpo` subcommand on `train`'s subparsers (the data options are added by the
    caller, as for every trainer)."""
    dpo = tsub.add_parser("dpo", help="DPO on preference pairs (TRL DPOTrainer), no reward model")
    dpo.add_argument("--policy", required=True, help="model to start from (also the reference)")
    dpo.add_argument(
        "--pairs",
        action="append",
        default=[],
        help=f"a pairs export (🔄 replies, the better-voted chosen), or '{CHITCHAT}' "
        "(the true next reply over one from another conversation); repeatable",
    )
    dpo.add_argument(
        "--votes",
        action="append",
        default=[],
        help="a kto export: each 👍 reply is paired against each 👎 reply of the same "
        "conversation and prompt, never across conversations; repeatable. Vote margins "
        "and model versions do not weigh pairs here (DPO counts every pair once)",
    )
    add_config_arguments(dpo, DpoConfig)
    add_config_arguments(dpo, LoraOptions)
    return dpo


def train(
    settings: Settings, store: Store, args: argparse.Namespace, run: RunFolder
) -> tuple[dict[str, float], ModelRef]:
    """DPO into `run` on the pairs and mined votes `args` name: metrics and the start model."""
    from training.data.sources import rm_pairs, vote_pairs
    from training.dpo_trainer import train_dpo

    if not args.pairs and not args.votes:
        raise DataError("train dpo needs --pairs or --votes (or both)")
    config = config_from_args(args, DpoConfig)
    base = model_ref(args.policy, settings, store)
    shape = RowShape(context_turns=args.context_turns)
    percent = args.held_out_percent
    split = rm_pairs(args.pairs, args.limit or None, percent, shape, config.seed)
    split.add(vote_pairs(args.votes, percent))
    run.held_out = HeldOut(percent, split.key)
    metrics = train_dpo(
        base.path,
        run,
        split.train,
        split.held_out,
        config,
        split.sources,
        base.version,
        config_from_args(args, LoraOptions),
    )
    return metrics, base
