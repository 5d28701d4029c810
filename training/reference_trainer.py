"""A TRL trainer of a policy against a frozen copy of itself (KTO, DPO): the reference is
the starting policy loaded again, also on a resumed run, so the reference never moves.
With LoRA it is the policy with its adapters switched off (TRL's way when given a
peft_config and no ref_model): the same model, without a second copy in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from datasets import Dataset

from training.data.exports import TrlRow
from training.lora import NO_LORA, LoraOptions, trl_peft_config
from training.models import load_policy, load_tokenizer

T = TypeVar("T")


def against_reference(
    trainer_class: Callable[..., T],
    policy_dir: Path,
    args: Any,
    rows: list[TrlRow],
    eval_rows: list[TrlRow],
    lora: LoraOptions = NO_LORA,
) -> T:
    """`trainer_class` (a TRL trainer taking model and ref_model) on `rows`, evaluating on
    `eval_rows` when there are any, with the policy's tokenizer."""
    model = load_policy(policy_dir)
    return trainer_class(
        model=model,
        ref_model=None if lora.enabled else load_policy(policy_dir),
        peft_config=trl_peft_config(model, lora),
        args=args,
        train_dataset=Dataset.from_list(rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=load_tokenizer(policy_dir),
    )
