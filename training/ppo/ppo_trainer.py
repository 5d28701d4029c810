"""PPO from human feedback, as InstructGPT (Ouyang et al. 2022) did it.

Four models: the policy (trained, starts as the SFT model), the reference (a frozen copy
of the SFT model), the value model (trained, starts as the reward model) and the reward
model (frozen). Each iteration:

1. sample `rollout_batch` prompts and reply to them with the policy (`rollout.sample`);
2. score the replies with the reward model, and the reference's log-probs of them;
3. per-token rewards -β·(log π - log π_ref), plus the score at the reply's last token; GAE
   over the value model's estimates gives advantages and returns (`make_experience`);
4. `ppo_epochs` passes of minibatch updates: clipped surrogate for the policy, clipped
   value loss for the value model, and optionally InstructGPT's pretraining-mix term
   (PPO-ptx) on SFT rows (`ppo_update`).

`make_experience` and `ppo_update` take tensors and models, so a test can run an update on
a rollout it built by hand.

With --lora-r the policy is trained through LoRA adapters, and the reference is the same
model with its adapters switched off (the SFT model exactly, as lora_B starts at 0): one
copy of the policy's weights in memory instead of two. The value model is trained whole.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from core.types import ChatMessage
from training.data.chitchat import DataError
from training.encoder import is_encoder_tokenizer
from training.lora import (
    NO_LORA,
    AdaptersOff,
    LoraOptions,
    publish_merged,
    record,
    saved_adapters,
    with_adapters,
    with_saved_adapters,
)
from training.models import (
    TokenizerMismatch,
    check_same_tokenizer,
    freeze_lower,
    load_policy,
    load_scorer,
    load_tokenizer,
    trainable,
    unwrapped,
)
from training.ppo.checkpoints import load_state, save_checkpoint, save_folder
from training.ppo.core import (
    AdaptiveKLController,
    FixedKLController,
)
from training.ppo.experience import collect
from training.ppo.ppo_config import PpoConfig
from training.ppo.rollout import stop_token_ids
from training.ppo.update import encode_ptx, ppo_update, ptx_batches
from training.prompt_fit import fit_prompts, prompt_budget
from training.runs import DataSource, RunFolder, TrainedAgainst
from training.scalar_log import ScalarLog


def train_ppo(
    policy_dir: Path,
    reward_dir: Path,
    run: RunFolder,
    prompts: list[list[ChatMessage]],
    config: PpoConfig,
    ptx_rows: list[dict[str, Any]] | None = None,
    data: Sequence[DataSource] = (),
    parent: str | None = None,
    lora: LoraOptions = NO_LORA,
) -> dict[str, float]:
    """Train the policy in `policy_dir` against the reward model in `reward_dir`; resumes
    from the run folder's newest checkpoint. The new model goes to run.model_dir, the value
    model to run.root/"value". Returns the last step's metrics."""
    if not prompts:
        raise DataError("PPO needs prompts to reply to")
    if config.ptx_coef > 0 and not ptx_rows:
        raise DataError("ptx_coef > 0 needs ptx rows (SFT prompt-completion rows)")
    # `steps` is left out of the recorded settings: running longer continues the same run.
    # How long to go on is not what the run is: a resumed run may ask for more.
    settings = {
        k: v
        for k, v in asdict(config).items()
        if k not in ("steps", "max_minutes", "save_every", "report_to")
    }
    tokenizer = load_tokenizer(policy_dir)
    reward_tokenizer = load_tokenizer(reward_dir)
    if is_encoder_tokenizer(reward_tokenizer):
        raise TokenizerMismatch(
            f"the reward model {reward_dir} is an encoder's: PPO's critic starts as the "
            "reward model and values each of the policy's tokens, which an encoder cannot "
            "read; train rloo against it, or a reward model made from the policy for ppo"
        )
    check_same_tokenizer(
        tokenizer, reward_tokenizer, f"the policy {policy_dir}", f"the reward model {reward_dir}"
    )
    # Cut every prompt once, here: a system prompt too long for the budget fails now, not
    # at a later step, and the reward model scores the context the policy saw.
    budget = prompt_budget(
        config.max_prompt_tokens,
        config.max_new_tokens,
        reward_tokenizer,
        "ppo",
        f"max_prompt_tokens={config.max_prompt_tokens}",
    )
    prompts = fit_prompts(tokenizer, prompts, budget)
    run.reward_model = TrainedAgainst.of(reward_dir)  # eval refuses it as a judge
    torch.manual_seed(config.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    checkpoint = run.latest_checkpoint()
    if lora.enabled:
        policy = load_policy(policy_dir, device)
        if checkpoint and saved_adapters(checkpoint / "policy"):
            policy = with_saved_adapters(policy, checkpoint / "policy")
        else:  # a new run (or a checkpoint of a full run: RunFolder.start refuses it)
            policy = with_adapters(policy, lora, "CAUSAL_LM")
        ref_policy: Any = AdaptersOff(policy)
    else:
        policy = load_policy(checkpoint / "policy" if checkpoint else policy_dir, device)
        ref_policy = _frozen(load_policy(policy_dir, device))
    value_model = load_scorer(checkpoint / "value" if checkpoint else reward_dir, device)
    reward_model = _frozen(load_scorer(reward_dir, device))
    # eval() turns dropout off; gradients still flow. PPO's ratio compares two passes over
    # the same weights, which dropout would turn into noise (TRL's PPO disabled it too).
    policy.eval()
    value_model.eval()
    freeze_lower(unwrapped(policy), config.freeze_layers)  # a LoRA policy's adapters too
    freeze_lower(value_model, config.freeze_layers)
    if lora.enabled:
        run.lora = record(policy, lora)
    run.start("ppo", parent or policy_dir.name, list(data), settings, config.seed)
    policy_optimizer = torch.optim.AdamW(
        trainable(policy), lr=config.learning_rate, weight_decay=0.0
    )
    value_optimizer = torch.optim.AdamW(
        trainable(value_model), lr=config.value_learning_rate, weight_decay=0.0
    )
    kl_controller: AdaptiveKLController | FixedKLController = (
        AdaptiveKLController(config.init_kl_coef, config.target_kl, config.kl_horizon)
        if config.adaptive_kl
        else FixedKLController(config.init_kl_coef)
    )
    done = 0
    if checkpoint:
        done = load_state(checkpoint, policy_optimizer, value_optimizer, kl_controller)
    stop_ids = stop_token_ids(tokenizer, policy)
    updates_per_step = config.ppo_epochs * math.ceil(config.rollout_batch / config.minibatch)
    encoded_ptx = encode_ptx(tokenizer, ptx_rows or [], config) if config.ptx_coef > 0 else []

    metrics: dict[str, float] = {}
    deadline = time.monotonic() + config.max_minutes * 60 if config.max_minutes > 0 else None
    board = ScalarLog(run, config.report_to)
    bar = tqdm(range(done, config.steps), initial=done, total=config.steps, desc="ppo")
    for step in bar:
        started = time.perf_counter()
        # Every step's randomness is a function of (seed, step): a resumed run samples
        # exactly what an uninterrupted one would have.
        sampling = torch.Generator(device=device).manual_seed(config.seed * 1_000_003 + step)
        shuffling = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        batch = [prompts[i] for i in _step_prompts(len(prompts), config, step)]

        experience, stats = collect(
            policy,
            ref_policy,
            value_model,
            reward_model,
            tokenizer,
            reward_tokenizer,
            batch,
            config,
            kl_controller.value,
            stop_ids,
            sampling,
        )
        scored = time.perf_counter()
        ptx = (
            ptx_batches(encoded_ptx, config, step * updates_per_step, device)
            if encoded_ptx
            else None
        )
        losses = ppo_update(
            policy,
            value_model,
            policy_optimizer,
            value_optimizer,
            experience,
            config,
            shuffling,
            ptx,
        )
        kl_controller.update(stats["kl"], config.rollout_batch)
        finished = time.perf_counter()

        metrics = {
            **stats,
            **losses,
            "seconds": finished - started,
            "train_steps_per_s": updates_per_step / (finished - scored),
        }
        run.log(step + 1, **metrics)
        board.log(step + 1, metrics)
        bar.set_postfix(reward=f"{metrics['reward']:.3f}", kl=f"{metrics['kl']:.2f}")
        out_of_time = deadline is not None and time.monotonic() >= deadline
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps or out_of_time:
            save_checkpoint(
                run,
                step + 1,
                policy,
                value_model,
                reward_tokenizer,
                policy_optimizer,
                value_optimizer,
                kl_controller.value,
            )
        if out_of_time:
            print(f"ppo: stopped after step {step + 1}: --max-minutes reached", file=sys.stderr)
            break
    bar.close()
    board.close()

    save_folder(run.root / "value", value_model, reward_tokenizer)
    if lora.enabled:
        publish_merged(policy, tokenizer, run)
    else:
        save_folder(run.model_dir, policy, tokenizer)
    if not metrics:  # everything was done before this call: report the last step logged
        logged = run.metrics()
        metrics = {k: v for k, v in logged[-1].items() if k not in ("step", "time")}
    run.finish(metrics)
    return metrics


def _frozen(model: Any) -> Any:
    model.eval()
    model.requires_grad_(False)
    return model


def _step_prompts(count: int, config: PpoConfig, step: int) -> list[int]:
    """Indices of the prompts of iteration `step`: passes over all prompts, each pass in
    its own seeded order, so no prompt comes twice before every one has come once."""
    orders: dict[int, list[int]] = {}
    picked = []
    for i in range(step * config.rollout_batch, (step + 1) * config.rollout_batch):
        epoch, position = divmod(i, count)
        if epoch not in orders:
            orders[epoch] = list(range(count))
            random.Random(config.seed * 1_000_003 + epoch).shuffle(orders[epoch])
        picked.append(orders[epoch][position])
    return picked
