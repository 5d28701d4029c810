"""LoRA (Hu et al. 2021) on every trainer: `--lora-r N` trains low-rank adapters on the
chosen projections and leaves every other weight of the model as it was.

One home (with training.lora_options, the options without torch) for the target modules
found in a model, for PEFT's LoraConfig, and for what a LoRA run
leaves in its run folder:

    OUT/adapter/   adapter_model.safetensors + adapter_config.json (its base model named)
    OUT/model/     the adapter merged into the base (merge_and_unload): a plain model
                   folder, so registration, `replyloop eval`, `model promote` and the gpu
                   worker's builtin engine read it as any other run's model

run.json's "lora" records r, alpha, dropout, targets, the trainable parameter count and
where the adapter is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from training.data.chitchat import DataError
from training.lora_options import NO_LORA as NO_LORA  # the trainers import both from here
from training.lora_options import LoraOptions as LoraOptions
from training.runs import RunFolder

ADAPTER_DIR = "adapter"

# The attention and MLP projections of the model families transformers ships, by the name
# of the linear layer: Llama/Mistral/Qwen/SmolLM (q_proj ... down_proj), GPT-2 (c_attn,
# c_proj, c_fc), GPT-NeoX (query_key_value, dense, dense_h_to_4h, dense_4h_to_h), OPT/Phi
# (out_proj, fc1, fc2). Only the names a model has are used.
PROJECTIONS = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "c_attn",
    "c_proj",
    "c_fc",
    "query_key_value",
    "dense",
    "dense_h_to_4h",
    "dense_4h_to_h",
    "out_proj",
    "fc1",
    "fc2",
)
# Heads are never adapted: an LM head is tied to the embeddings in small models, and a
# reward model's head is trained whole (modules_to_save).
HEADS = ("lm_head", "score")


class LoraError(DataError):
    """A LoRA option the model cannot take (said in one line, as bad training data)."""


def _linear_names(model: torch.nn.Module) -> set[str]:
    """The last name of every linear module outside the heads (GPT-2's Conv1D counts)."""
    found = set()
    for name, module in model.named_modules():
        parts = name.split(".")
        if any(part in HEADS for part in parts):
            continue
        if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D":
            found.add(parts[-1])
    return found


def target_modules(model: torch.nn.Module, options: LoraOptions) -> list[str]:
    """The module names to adapt: --lora-targets, each checked against the model, or the
    known projections the model has."""
    present = _linear_names(model)
    if options.lora_targets.strip():
        asked = [name.strip() for name in options.lora_targets.split(",") if name.strip()]
        missing = [name for name in asked if name not in present]
        if missing:
            raise LoraError(
                f"--lora-targets {', '.join(missing)}: no such linear module in the model "
                f"(it has {', '.join(sorted(present))})"
            )
        return asked
    targets = [name for name in PROJECTIONS if name in present]
    if not targets:
        raise LoraError(
            "no attention or MLP projection known to --lora-targets' default in the model "
            f"(its linear modules: {', '.join(sorted(present))}): name them with --lora-targets"
        )
    return targets


def lora_config(
    model: torch.nn.Module, options: LoraOptions, task_type: str, heads: tuple[str, ...] = ()
) -> Any:
    """PEFT's LoraConfig for `model`: task_type "CAUSAL_LM" for a policy, "SEQ_CLS" for a
    reward model, whose head (`heads`) is then trained whole beside the adapters."""
    from peft import LoraConfig

    return LoraConfig(
        r=options.lora_r,
        lora_alpha=options.alpha,
        lora_dropout=options.lora_dropout,
        target_modules=target_modules(model, options),
        modules_to_save=list(heads) or None,
        task_type=task_type,
        bias="none",
    )


def trl_peft_config(model: torch.nn.Module, options: LoraOptions) -> Any | None:
    """A TRL trainer's `peft_config` for a policy: None for a full fine-tune."""
    return lora_config(model, options, "CAUSAL_LM") if options.enabled else None


def record_trainer(trainer: Any, run: RunFolder, options: LoraOptions) -> None:
    """Set run.lora from a TRL trainer's wrapped model (before run.start)."""
    if options.enabled:
        run.lora = record(trainer.accelerator.unwrap_model(trainer.model), options)


def with_adapters(
    model: torch.nn.Module, options: LoraOptions, task_type: str, heads: tuple[str, ...] = ()
) -> Any:
    """`model` wrapped in fresh adapters (lora_B starts at 0: the wrapped model computes
    what `model` did); only the adapters (and `heads`) are trainable."""
    from peft import get_peft_model

    return get_peft_model(model, lora_config(model, options, task_type, heads))


def with_saved_adapters(model: torch.nn.Module, folder: Path) -> Any:
    """`model` with the trainable adapters saved in `folder` (a checkpoint's)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, folder, is_trainable=True)


def is_lora(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def saved_adapters(folder: Path) -> bool:
    """Whether `folder` holds an adapter (a LoRA run's checkpoint) rather than a model."""
    return (folder / "adapter_config.json").is_file()


def record(model: Any, options: LoraOptions) -> dict[str, Any]:
    """What run.json's "lora" says of a wrapped model (and the registry after it)."""
    config = model.peft_config["default"]
    # PEFT adds "classifier" and "score" to a SEQ_CLS model's list: keep those it has.
    names = {name.split(".")[-1] for name, _ in model.named_modules()}
    return {
        "r": options.lora_r,
        "alpha": options.alpha,
        "dropout": options.lora_dropout,
        "targets": sorted(config.target_modules),
        "modules_to_save": sorted(set(config.modules_to_save or []) & names),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "adapter": ADAPTER_DIR,  # relative to the run folder, which may move
    }


def _replace(folder: Path, write: Any) -> None:
    """Write a folder beside `folder` with `write(partial)`, then rename it into place."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    write(partial)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)


def publish_merged(model: Any, tokenizer: Any, run: RunFolder) -> None:
    """The adapter into run.root/adapter, then the adapter merged into its base into
    run.model_dir (the wrapper is spent after this: merging unloads it)."""

    def adapter(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    _replace(run.root / ADAPTER_DIR, adapter)
    merged = model.merge_and_unload()

    def merged_model(folder: Path) -> None:
        merged.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    _replace(run.model_dir, merged_model)


class AdaptersOff:
    """A LoRA policy with its adapters switched off: the model it started from, sharing
    its weights (PPO's frozen reference without a second copy of the model). Not a
    Module of its own, so freezing or moving it can never touch the policy."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.model.disable_adapter():
            return self.model(*args, **kwargs)

    def parameters(self) -> Any:
        return self.model.parameters()
