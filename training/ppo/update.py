"""PPO's update: epochs of clipped policy and value steps over an experience batch, and
the PPO-ptx language-modelling term on pretraining rows."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import torch

from training.ppo.core import (
    logprobs_from_logits,
    masked_mean,
    policy_loss,
    value_loss,
)
from training.ppo.experience import Experience, autocast, rollout_values
from training.ppo.ppo_config import PpoConfig
from training.ppo.rollout import response_logprobs


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
            with autocast(device):
                logprobs = response_logprobs(policy, batch.rollout, config.temperature)  # (b, r)
            pg_loss, clipfrac, approx_kl = policy_loss(
                logprobs, batch.logprobs, batch.advantages, mask, config.cliprange
            )
            pg_loss.backward()
            if ptx_batches is not None:  # InstructGPT's γ_ptx·E[log π(pretraining text)]
                ptx_ids, ptx_mask = next(ptx_batches)
                with autocast(device):
                    lm_loss = ptx_loss(policy, ptx_ids, ptx_mask)
                (config.ptx_coef * lm_loss).backward()
                stats["ptx_loss"].append(lm_loss.item())
            torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            policy_optimizer.step()

            value_optimizer.zero_grad()
            with autocast(device):
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


def ptx_batches(
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
