"""PPO's resumable checkpoints: written to a partial folder and renamed, the newest
KEEP_CHECKPOINTS kept."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from training.ppo.core import (
    AdaptiveKLController,
    FixedKLController,
)
from training.runs import RunFolder

KEEP_CHECKPOINTS = 2


def save_folder(folder: Path, model: Any, tokenizer: Any) -> None:
    """A loadable model folder, written beside and renamed into place."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)


def save_checkpoint(
    run: RunFolder,
    step: int,
    policy: Any,
    value_model: Any,
    reward_tokenizer: Any,
    policy_optimizer: torch.optim.Optimizer,
    value_optimizer: torch.optim.Optimizer,
    kl_coef: float,
) -> None:
    """checkpoints/checkpoint-N, written as checkpoint-N.partial and renamed once complete
    (latest_checkpoint ignores the partial name), then all but the newest two removed."""
    final = run.checkpoints / f"checkpoint-{step}"
    partial = run.checkpoints / f"checkpoint-{step}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    policy.save_pretrained(partial / "policy")
    value_model.save_pretrained(partial / "value")
    reward_tokenizer.save_pretrained(partial / "value")  # load_scorer reads the pad id there
    torch.save(
        {"policy": policy_optimizer.state_dict(), "value": value_optimizer.state_dict()},
        partial / "optimizers.pt",
    )
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    torch.save({"step": step, "kl_coef": kl_coef, "rng": rng}, partial / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    kept = sorted(
        (int(path.name.split("-")[-1]), path)
        for path in run.checkpoints.glob("checkpoint-*")
        if path.is_dir() and path.name.split("-")[-1].isdigit()
    )
    for _, old in kept[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old)


def load_state(
    checkpoint: Path,
    policy_optimizer: torch.optim.Optimizer,
    value_optimizer: torch.optim.Optimizer,
    kl_controller: AdaptiveKLController | FixedKLController,
) -> int:
    """Restore what the models' folders do not hold; returns the steps already done."""
    optimizers = torch.load(checkpoint / "optimizers.pt", map_location="cpu", weights_only=True)
    policy_optimizer.load_state_dict(optimizers["policy"])
    value_optimizer.load_state_dict(optimizers["value"])
    state = torch.load(checkpoint / "state.pt", map_location="cpu", weights_only=True)
    kl_controller.value = float(state["kl_coef"])
    torch.set_rng_state(state["rng"]["torch"])
    if torch.cuda.is_available() and "cuda" in state["rng"]:
        torch.cuda.set_rng_state(state["rng"]["cuda"])
    step: int = state["step"]
    return step
