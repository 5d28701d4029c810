"""`replyloop train sft|rm|ppo|kto|dpo|rloo` and `replyloop eval`: data loaded and split, the
trainer run in its run folder, the model registered.

Each trainer's config dataclass is its command line (training.config_cli); the options
here say where models and data come from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.settings import Settings
from core.store import Store, registry
from core.types import DataSource
from replyloop import dpo_command, rloo_command
from replyloop.bootstrap import bootstrap
from replyloop.model_refs import ModelRef, ModelRefError, model_ref, run_version
from training.config_cli import add_config_arguments, config_from_args
from training.data.builders import RowShape
from training.data.chitchat import NAME as CHITCHAT
from training.evaluate_config import EvalConfig
from training.kto_config import KtoConfig
from training.lora_options import LoraOptions
from training.ppo.ppo_config import PpoConfig
from training.reward.rm_config import RmConfig
from training.runs import (
    HeldOut,
    HeldOutMismatch,
    RunFolder,
    recorded_held_out,
    removed_if_failed_before_training,
)
from training.sft_config import SftConfig

if TYPE_CHECKING:  # the data modules are imported when a command runs (no torch at start)
    from training.data.sources import Split


DEFAULT_HELD_OUT_PERCENT = 5.0


def _data_options(parser: argparse.ArgumentParser, limit: int) -> None:
    parser.add_argument(
        "--limit",
        type=int,
        default=limit,
        help=f"rows drawn from chitchat for training (default {limit}; the held-out part "
        "gets a tenth as many, at least 200); export files are used whole",
    )
    parser.add_argument(
        "--held-out-percent",
        type=float,
        default=DEFAULT_HELD_OUT_PERCENT,
        help="share of conversations kept out of training for the held-out figures, chosen "
        f"by a stable hash and recorded in run.json (default {DEFAULT_HELD_OUT_PERCENT:g})",
    )
    parser.add_argument(
        "--context-turns", type=int, default=3, help="chitchat turns before a reply (default 3)"
    )
    parser.add_argument("--out", required=True, type=Path, help="the run folder (resumable)")


def add_parsers(sub: Any) -> None:
    """`train` and `eval` on the top-level parser's subcommands."""
    train = sub.add_parser("train", help="train the next model: sft, rm, ppo, kto, dpo or rloo")
    tsub = train.add_subparsers(dest="train_command", required=True, help="what to train")

    sft = tsub.add_parser("sft", help="supervised fine-tuning (TRL SFTTrainer)")
    sft.add_argument("--base", default="smollm2-135m-instruct", help="model to start from")
    sft.add_argument(
        "--data",
        action="append",
        help="'chitchat' (the packaged conversations) or a kto export, whose 👍 replies are "
        "used; repeatable (default: chitchat)",
    )
    _data_options(sft, 2000)
    add_config_arguments(sft, SftConfig)
    add_config_arguments(sft, LoraOptions)

    rm = tsub.add_parser("rm", help="reward model: pairwise (TRL) and pointwise on votes")
    rm.add_argument("--base", required=True, help="policy to start from (usually the SFT run)")
    rm.add_argument(
        "--pairs",
        action="append",
        help="'chitchat' (response selection) or a pairs export; repeatable (default: "
        "chitchat unless --votes is given)",
    )
    rm.add_argument("--votes", action="append", default=[], help="a kto export; repeatable")
    _data_options(rm, 3000)
    add_config_arguments(rm, RmConfig)
    add_config_arguments(rm, LoraOptions)

    ppo = tsub.add_parser("ppo", help="PPO against a reward model (InstructGPT)")
    ppo.add_argument("--policy", required=True, help="the SFT model (also the KL reference)")
    ppo.add_argument("--reward", required=True, help="the reward model (also the critic's start)")
    ppo.add_argument(
        "--prompts",
        action="append",
        help="'chitchat' or an export file of any format (its prompts); repeatable "
        "(default: chitchat)",
    )
    ppo.add_argument(
        "--ptx-data",
        action="append",
        default=[],
        help="SFT data for the PPO-ptx term (as `train sft --data`); used when --ptx-coef > 0",
    )
    _data_options(ppo, 512)
    add_config_arguments(ppo, PpoConfig)
    add_config_arguments(ppo, LoraOptions)

    kto = tsub.add_parser("kto", help="KTO straight from 👍/👎 (TRL KTOTrainer), no reward model")
    kto.add_argument("--policy", required=True, help="model to start from (also the reference)")
    kto.add_argument("--votes", action="append", required=True, help="a kto export; repeatable")
    _data_options(kto, 0)
    add_config_arguments(kto, KtoConfig)
    add_config_arguments(kto, LoraOptions)
    _data_options(dpo_command.add_parser(tsub), 2000)
    _data_options(rloo_command.add_parser(tsub), 512)

    ev = sub.add_parser(
        "eval", help="a policy against a baseline and trivial baselines, judged by a reward model"
    )
    ev.add_argument("--policy", required=True, help="the model to judge (a run folder, ...)")
    ev.add_argument("--baseline", required=True, help="the model to compare it with")
    ev.add_argument(
        "--reward",
        required=True,
        help="the reward model that judges: not the one the policy trained against (refused "
        "unless --allow-training-judge); one from `train rm` with its own data and seed",
    )
    ev.add_argument(
        "--prompts",
        action="append",
        help="'chitchat' or an export file; its held-out part is used (default: chitchat)",
    )
    ev.add_argument(
        "--limit",
        type=int,
        default=200,
        help="held-out prompts to judge on, drawn round-robin over held-out conversations "
        "(seeded; at most --per-conversation from one) (default 200)",
    )
    ev.add_argument(
        "--held-out-percent",
        type=float,
        help="as in training (default: what the policy's run.json records, else 5); another "
        "value than a model's run recorded is refused",
    )
    ev.add_argument(
        "--allow-held-out-mismatch",
        action="store_true",
        help="evaluate at --held-out-percent even where the policy's or baseline's run "
        "recorded another (some prompts may then have been trained on)",
    )
    ev.add_argument("--context-turns", type=int, default=3, help="as in training")
    ev.add_argument(
        "--out",
        type=Path,
        help="folder for report.md, its plots and samples.jsonl (default: eval/ in the "
        "policy's run folder)",
    )
    add_config_arguments(ev, EvalConfig)


def evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from training.data.eval_prompts import held_out_prompts, stratified
    from training.eval_report import summary_text
    from training.evaluate import evaluate as judge

    rt = bootstrap(settings)
    policy = model_ref(args.policy, settings, rt.store)
    baseline = model_ref(args.baseline, settings, rt.store)
    reward = model_ref(args.reward, settings, rt.store)
    out = args.out
    if out is None:
        if policy.path.name != "model":
            raise ModelRefError("--policy is not a run folder: say where the report goes (--out)")
        out = policy.path.parent / "eval"
    config = config_from_args(args, EvalConfig)
    percent = held_out_percent(args, {"--policy": policy, "--baseline": baseline})
    # The held-out prompts alone (training never saw them), spread over conversations.
    shape = RowShape(context_turns=args.context_turns)
    found = held_out_prompts(args.prompts or [CHITCHAT], percent, shape)
    drawn = stratified(found, args.limit, config.per_conversation, config.seed)
    held_out, spanned = [row.prompt for row in drawn], len({row.conversation for row in drawn})
    names = {"policy": policy.version, "baseline": baseline.version, "reward": reward.version}
    with removed_if_failed_before_training(out):
        summary = judge(
            policy.path,
            baseline.path,
            reward.path,
            held_out,
            RunFolder(out),
            config,
            names,
            spanned,
        )
    print(summary_text(summary))
    print(f"report: {out / 'report.md'}", file=sys.stderr)
    return 0


def held_out_percent(args: argparse.Namespace, models: dict[str, ModelRef]) -> float:
    """The held-out percentage to evaluate at: --held-out-percent, else the one the first
    of `models` with a run.json recorded, else the training default. One that differs from
    a model's recorded split is refused (HeldOutMismatch) unless --allow-held-out-mismatch:
    the held-out prompts at another percentage include prompts that run trained on."""
    recorded = {option: recorded_held_out(ref.path) for option, ref in models.items()}
    known = {option: split.percent for option, split in recorded.items() if split is not None}
    percent: float = args.held_out_percent
    if percent is None:
        percent = next(iter(known.values()), DEFAULT_HELD_OUT_PERCENT)
    for option, theirs in known.items():
        if theirs != percent and not args.allow_held_out_mismatch:
            raise HeldOutMismatch(
                f"{option} was trained with --held-out-percent {theirs:g}, so held-out "
                f"prompts at {percent:g} % may be ones it trained on; evaluate at {theirs:g} "
                "(the default), or pass --allow-held-out-mismatch"
            )
    return percent


def train(settings: Settings, args: argparse.Namespace) -> int:
    rt = bootstrap(settings)  # the registry lives in the store the workers read
    with removed_if_failed_before_training(args.out):
        run = RunFolder(args.out)
        metrics, base = _train(settings, rt.store, args, run)
    _register(rt.store, run, args.train_command, base, metrics)
    return 0


def _train(
    settings: Settings, store: Store, args: argparse.Namespace, run: RunFolder
) -> tuple[dict[str, float], ModelRef]:
    """The trainer `args` names, run into `run`: its metrics and the model it started from."""
    shape = RowShape(context_turns=args.context_turns)
    command = args.train_command
    percent, limit = args.held_out_percent, args.limit or None
    if command == "sft":
        from training.data.sources import sft_data
        from training.sft_trainer import train_sft

        base = model_ref(args.base, settings, store)
        split = sft_data(args.data or [CHITCHAT], limit, percent, shape, _seed(args))
        run.held_out = HeldOut(percent, split.key)
        sft_config = config_from_args(args, SftConfig)
        metrics = train_sft(
            base.path,
            run,
            split.train,
            split.held_out,
            sft_config,
            split.sources,
            base.version,
            config_from_args(args, LoraOptions),
        )
    elif command == "rm":
        from training.data.sources import rm_pairs, votes
        from training.reward.rm_trainer import train_rm

        base = model_ref(args.base, settings, store)
        pair_names = args.pairs if args.pairs is not None else ([] if args.votes else [CHITCHAT])
        rm_config = config_from_args(args, RmConfig)
        part = rm_config.train_part
        pairs = rm_pairs(pair_names, limit, percent, shape, _seed(args), part)
        voted = votes(args.votes, percent, part)
        run.held_out = HeldOut(percent, _key(pairs, voted))
        metrics = train_rm(
            base.path,
            run,
            pairs.train,
            voted.train,
            pairs.held_out,
            voted.held_out,
            rm_config,
            pairs.sources + voted.sources,
            base.version,
            config_from_args(args, LoraOptions),
        )
    elif command == "dpo":
        metrics, base = dpo_command.train(settings, store, args, run)
    elif command == "rloo":
        metrics, base = rloo_command.train(settings, store, args, run)
    elif command == "ppo":
        from training.data.sources import prompts, sft_data
        from training.ppo.ppo_trainer import train_ppo

        base = model_ref(args.policy, settings, store)
        reward = model_ref(args.reward, settings, store)
        found = prompts(args.prompts or [CHITCHAT], limit, percent, shape, _seed(args))
        config = config_from_args(args, PpoConfig)
        ptx, splits = None, [found]
        if config.ptx_coef > 0:
            ptx_split = sft_data(args.ptx_data or [CHITCHAT], limit, percent, shape, _seed(args))
            ptx, splits = ptx_split.train, [found, ptx_split]
        run.held_out = HeldOut(percent, _key(*splits))
        metrics = train_ppo(
            base.path,
            reward.path,
            run,
            [row["prompt"] for row in found.train],
            config,
            ptx_rows=ptx,
            data=found.sources,
            parent=base.version,
            lora=config_from_args(args, LoraOptions),
        )
    else:
        from training.data.sources import votes
        from training.kto_trainer import train_kto

        base = model_ref(args.policy, settings, store)
        voted = votes(args.votes, percent)
        run.held_out = HeldOut(percent, voted.key)
        metrics = train_kto(
            base.path,
            run,
            voted.train,
            voted.held_out,
            config_from_args(args, KtoConfig),
            voted.sources,
            base.version,
            config_from_args(args, LoraOptions),
        )
    return metrics, base


def _key(*splits: Split) -> str:
    """What the splits of one run were taken by, together (Split.key of their sum)."""
    from training.data.sources import Split

    together = Split()
    for split in splits:
        together.by_prompt += split.by_prompt
    return together.key


def _seed(args: argparse.Namespace) -> int:
    return int(getattr(args, "seed", 0))


def _register(
    store: Store, run: RunFolder, kind: str, parent: ModelRef, metrics: dict[str, float]
) -> None:
    manifest = run.manifest()
    version = run_version(run.root, run.model_dir)
    settings = manifest.get("settings", {})
    lora = manifest.get("lora")
    if lora:  # model/ is the adapters merged in; the adapters themselves are kept beside it
        adapter = str((run.root / lora["adapter"]).absolute())
        settings = {**settings, "lora": {**lora, "adapter": adapter}}
        metrics = {
            **metrics,
            "lora_r": float(lora["r"]),
            "lora_alpha": float(lora["alpha"]),
            "lora_trainable_parameters": float(lora["trainable_parameters"]),
        }
    record = registry.register(
        store,
        version=version,
        kind=kind,
        path=run.model_dir,
        parent=parent.version,
        data=[_source(s) for s in manifest.get("data", [])],
        settings=settings,
        metrics=metrics,
    )
    shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float))
    how = f" with LoRA r={lora['r']} (adapter: {run.root / lora['adapter']})" if lora else ""
    print(f"trained {kind}{how} into {run.root} ({shown})", file=sys.stderr)
    hint = "" if kind == "rm" else f"; serve it with: replyloop model promote {record.version}"
    print(f"registered {record.version} (parent {parent.version}){hint}", file=sys.stderr)


def _source(source: dict[str, Any]) -> DataSource:
    return {"name": source["name"], "rows": source["rows"], "sha256": source["sha256"] or ""}
