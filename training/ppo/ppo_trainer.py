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
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from core.types import ChatMessage
from training.models import (
    freeze_lower,
    load_policy,
    load_scorer,
    load_tokenizer,
    token_values,
    trainable,
)
from training.ppo.core import (
    AdaptiveKLController,
    FixedKLController,
    gae,
    kl_penalized_rewards,
    logprobs_from_logits,
    masked_mean,
    masked_whiten,
    policy_loss,
    value_loss,
)
from training.ppo.ppo_config import PpoConfig
from training.ppo.rollout import Rollout, response_logprobs, sample, stop_token_ids
from training.runs import DataSource, RunFolder
from training.scoring import reward_scores

KEEP_CHECKPOINTS = 2


@dataclass(frozen=True)
class Experience:
    """A rollout batch with what the update needs; per-token tensors are (B, R)."""

    rollout: Rollout
    logprobs: torch.Tensor  # (B, R) of the policy that sampled
    values: torch.Tensor  # (B, R) of the value model before the update
    advantages: torch.Tensor  # (B, R) whitened over the batch
    returns: torch.Tensor  # (B, R) the value model's targets

    def select(self, rows: torch.Tensor) -> Experience:
        rollout = self.rollout.select(rows)
        kept = rollout.response_mask.shape[1]
        return Experience(
            rollout,
            self.logprobs[rows, :kept],
            self.values[rows, :kept],
            self.advantages[rows, :kept],
            self.returns[rows, :kept],
        )


def rollout_values(value_model: Any, rollout: Rollout) -> torch.Tensor:
    """The value of the state before each response token: the head at the column before
    it, as the logits that predict it. -> (B, R)"""
    values = token_values(value_model, rollout.input_ids, rollout.attention_mask)  # (B, P + R)
    return values[:, rollout.query_width - 1 : -1].float() * rollout.response_mask


def make_experience(
    rollout: Rollout,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    values: torch.Tensor,
    scores: torch.Tensor,
    kl_coef: float,
    config: PpoConfig,
) -> tuple[Experience, dict[str, float]]:
    """KL-penalised rewards and GAE for one rollout batch. scores: (B,) reward-model scores
    of the replies; the rest (B, R). Returns the experience and its statistics."""
    mask = rollout.response_mask
    assert logprobs.shape == ref_logprobs.shape == values.shape == mask.shape
    shaped = scores + config.missing_eos_penalty * (~rollout.ended).to(scores.dtype)  # (B,)
    rewards, kl = kl_penalized_rewards(logprobs, ref_logprobs, shaped, mask, kl_coef)
    if config.whiten_rewards:
        rewards = masked_whiten(rewards, mask, shift_mean=False)
    advantages, returns = gae(rewards, values, mask, config.gamma, config.lam)
    if mask.sum() > 1:
        advantages = masked_whiten(advantages, mask)
    stats = {
        "reward": scores.mean().item(),
        "reward_std": scores.std().item() if len(scores) > 1 else 0.0,
        "kl": kl.sum(-1).mean().item(),  # nats per reply
        "non_score_reward": (-kl_coef * kl).sum(-1).mean().item(),
        "kl_coef": kl_coef,
        "response_length": mask.sum(-1).float().mean().item(),
        "eos_rate": rollout.ended.float().mean().item(),
        "value_mean": masked_mean(values, mask).item(),
        "return_mean": masked_mean(returns, mask).item(),
    }
    return Experience(rollout, logprobs, values, advantages, returns), stats


def collect(
    policy: Any,
    ref_policy: Any,
    value_model: Any,
    reward_model: Any,
    tokenizer: Any,
    reward_tokenizer: Any,
    prompts: Sequence[Sequence[ChatMessage]],
    config: PpoConfig,
    kl_coef: float,
    stop_ids: Collection[int],
    generator: torch.Generator,
) -> tuple[Experience, dict[str, float]]:
    """Steps 1-3: reply to the prompts, score the replies, and turn that into experience."""
    device = next(policy.parameters()).device
    started = time.perf_counter()
    with _autocast(device):
        rollout, logprobs, entropy = sample(
            policy,
            tokenizer,
            prompts,
            max_prompt_tokens=config.max_prompt_tokens,
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            top_k=config.top_k,
            top_p=config.top_p,
            stop_ids=stop_ids,
            generator=generator,
        )
    generated = time.perf_counter()
    with torch.no_grad(), _autocast(device):
        ref_logprobs = response_logprobs(ref_policy, rollout, config.temperature)
        values = rollout_values(value_model, rollout)
        scores = reward_scores(
            reward_model,
            reward_tokenizer,
            prompts,
            rollout.texts,
            batch_size=len(prompts),
            # about what the policy saw: the scorer keeps the end of a longer text
            max_length=config.max_prompt_tokens + config.max_new_tokens + 16,
        )
    experience, stats = make_experience(
        rollout,
        logprobs,
        ref_logprobs,
        values,
        torch.tensor(scores, device=device),
        kl_coef,
        config,
    )
    return experience, {
        **stats,
        "entropy": masked_mean(entropy, rollout.response_mask).item(),
        "rollout_tokens_per_s": rollout.response_mask.sum().item() / (generated - started),
        "scoring_seconds": time.perf_counter() - generated,
    }


def ptx_loss(policy: Any, input_ids: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the tokens where loss_mask is 1 (the completions).
    Rows are right-padded. input_ids, loss_mask: (B, T)"""
    logits = policy(input_ids=input_ids, attention_mask=(loss_mask >= 0).long()).logits
    logprobs = logprobs_from_logits(logits[:, :-1].float(), input_ids[:, 1:])  # (B, T - 1)
    return -masked_mean(logprobs, loss_mask[:, 1:].clamp(min=0))


def ppo_update(
    policy: Any,
    value_model: Any,
    policy_optimizer: torch.optim.Optimizer,
    value_optimizer: torch.optim.Optimizer,
    experience: Experience,
    config: PpoConfig,
    generator: torch.Generator,
    ptx_batches: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, float]:
    """`ppo_epochs` passes over the experience in shuffled minibatches, one step of both
    optimizers each. The models share no parameters, so each loss is built and
    back-propagated in turn: only one graph is held at a time (memory, on a CPU box).
    Returns the mean of each loss statistic."""
    stats: dict[str, list[float]] = defaultdict(list)
    rows = experience.rollout.input_ids.shape[0]
    device = experience.rollout.input_ids.device
    for _ in range(config.ppo_epochs):
        order = torch.randperm(rows, generator=generator).to(device)
        for start in range(0, rows, config.minibatch):
            batch = experience.select(order[start : start + config.minibatch])
            mask = batch.rollout.response_mask  # (b, r)

            policy_optimizer.zero_grad()
            with _autocast(device):
                logprobs = response_logprobs(policy, batch.rollout, config.temperature)  # (b, r)
            pg_loss, clipfrac, approx_kl = policy_loss(
                logprobs, batch.logprobs, batch.advantages, mask, config.cliprange
            )
            pg_loss.backward()
            if ptx_batches is not None:  # InstructGPT's γ_ptx·E[log π(pretraining text)]
                ptx_ids, ptx_mask = next(ptx_batches)
                with _autocast(device):
                    lm_loss = ptx_loss(policy, ptx_ids, ptx_mask)
                (config.ptx_coef * lm_loss).backward()
                stats["ptx_loss"].append(lm_loss.item())
            torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            policy_optimizer.step()

            value_optimizer.zero_grad()
            with _autocast(device):
                values = rollout_values(value_model, batch.rollout)  # (b, r)
            vf_loss, vf_clipfrac = value_loss(
                values, batch.values, batch.returns, mask, config.cliprange_value
            )
            (config.vf_coef * vf_loss).backward()
            torch.nn.utils.clip_grad_norm_(value_model.parameters(), config.max_grad_norm)
            value_optimizer.step()

            stats["policy_loss"].append(pg_loss.item())
            stats["value_loss"].append(vf_loss.item())
            stats["clipfrac"].append(clipfrac.item())
            stats["value_clipfrac"].append(vf_clipfrac.item())
            stats["approx_kl"].append(approx_kl.item())
    return {name: sum(values) / len(values) for name, values in stats.items()}


def train_ppo(
    policy_dir: Path,
    reward_dir: Path,
    run: RunFolder,
    prompts: list[list[ChatMessage]],
    config: PpoConfig,
    ptx_rows: list[dict[str, Any]] | None = None,
    data: Sequence[DataSource] = (),
    parent: str | None = None,
) -> dict[str, float]:
    """Train the policy in `policy_dir` against the reward model in `reward_dir`; resumes
    from the run folder's newest checkpoint. The new model goes to run.model_dir, the value
    model to run.root/"value". Returns the last step's metrics."""
    if not prompts:
        raise ValueError("PPO needs prompts to reply to")
    if config.ptx_coef > 0 and not ptx_rows:
        raise ValueError("ptx_coef > 0 needs ptx rows (SFT prompt-completion rows)")
    # `steps` is left out of the recorded settings: running longer continues the same run.
    # How long to go on is not what the run is: a resumed run may ask for more.
    settings = {
        k: v for k, v in asdict(config).items() if k not in ("steps", "max_minutes", "save_every")
    }
    run.start("ppo", parent or policy_dir.name, list(data), settings, config.seed)
    torch.manual_seed(config.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    tokenizer = load_tokenizer(policy_dir)
    reward_tokenizer = load_tokenizer(reward_dir)
    checkpoint = run.latest_checkpoint()
    policy = load_policy(checkpoint / "policy" if checkpoint else policy_dir, device)
    value_model = load_scorer(checkpoint / "value" if checkpoint else reward_dir, device)
    ref_policy = _frozen(load_policy(policy_dir, device))
    reward_model = _frozen(load_scorer(reward_dir, device))
    # eval() turns dropout off; gradients still flow. PPO's ratio compares two passes over
    # the same weights, which dropout would turn into noise (TRL's PPO disabled it too).
    policy.eval()
    value_model.eval()
    freeze_lower(policy, config.freeze_layers)
    freeze_lower(value_model, config.freeze_layers)
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
        done = _load_state(checkpoint, policy_optimizer, value_optimizer, kl_controller)
    stop_ids = stop_token_ids(tokenizer, policy)
    updates_per_step = config.ppo_epochs * math.ceil(config.rollout_batch / config.minibatch)
    encoded_ptx = encode_ptx(tokenizer, ptx_rows or [], config) if config.ptx_coef > 0 else []

    metrics: dict[str, float] = {}
    deadline = time.monotonic() + config.max_minutes * 60 if config.max_minutes > 0 else None
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
            _ptx_batches(encoded_ptx, config, step * updates_per_step, device)
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
        bar.set_postfix(reward=f"{metrics['reward']:.3f}", kl=f"{metrics['kl']:.2f}")
        out_of_time = deadline is not None and time.monotonic() >= deadline
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps or out_of_time:
            _save_checkpoint(
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

    _save_folder(run.model_dir, policy, tokenizer)
    _save_folder(run.root / "value", value_model, reward_tokenizer)
    if not metrics:  # everything was done before this call: report the last step logged
        logged = run.metrics()
        metrics = {k: v for k, v in logged[-1].items() if k not in ("step", "time")}
    run.finish(metrics)
    return metrics


def _frozen(model: Any) -> Any:
    model.eval()
    model.requires_grad_(False)
    return model


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 mixed precision on a GPU; a CPU computes in float32."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


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


def encode_ptx(
    tokenizer: Any, rows: list[dict[str, Any]], config: PpoConfig
) -> list[tuple[list[int], int]]:
    """TRL conversational prompt-completion rows as (token ids, index of the completion's
    first token); a row over the length limit keeps its end."""
    limit = config.max_prompt_tokens + config.max_new_tokens
    encoded = []
    for row in rows:
        prompt = tokenizer.apply_chat_template(
            row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        full = tokenizer.apply_chat_template(
            [*row["prompt"], *row["completion"]], tokenize=True, return_dict=False
        )
        # The completion starts where the two encodings part (a tokenizer may merge the
        # generation prompt's last token with the completion's first).
        start = next(
            (i for i, (a, b) in enumerate(zip(prompt, full, strict=False)) if a != b),
            min(len(prompt), len(full)),
        )
        cut = max(0, len(full) - limit)
        if len(full) > max(start, cut):
            encoded.append((list(full[cut:]), max(start - cut, 0)))
    if not encoded:
        raise ValueError("no ptx row has a completion to learn")
    return encoded


def _ptx_batches(
    encoded: list[tuple[list[int], int]], config: PpoConfig, first: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Right-padded (ids, loss mask) batches of ptx rows, from update number `first` on, in
    a seeded order. The mask is 1 on completion tokens, 0 on the prompt, -1 on padding."""
    order = list(range(len(encoded)))
    random.Random(config.seed).shuffle(order)
    update = first
    while True:
        chosen = [
            encoded[order[(update * config.ptx_batch + i) % len(order)]]
            for i in range(config.ptx_batch)
        ]
        width = max(len(ids) for ids, _ in chosen)
        input_ids = torch.zeros((len(chosen), width), dtype=torch.long)  # (B, T)
        loss_mask = torch.full((len(chosen), width), -1, dtype=torch.long)  # (B, T)
        for row, (ids, start) in enumerate(chosen):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            loss_mask[row, : len(ids)] = 0
            loss_mask[row, start : len(ids)] = 1
        yield input_ids.to(device), loss_mask.to(device)
        update += 1


def _save_folder(folder: Path, model: Any, tokenizer: Any) -> None:
    """A loadable model folder, written beside and renamed into place."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)


def _save_checkpoint(
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


def _load_state(
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
