"""PPO's experience: a batch of rollouts with their old log-probs, reference log-probs,
values, reward-model scores, KL-penalised per-token rewards, advantages and returns."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core.types import ChatMessage
from training.models import (
    token_values,
)
from training.ppo.core import (
    gae,
    kl_penalized_rewards,
    masked_mean,
    masked_whiten,
)
from training.ppo.ppo_config import PpoConfig
from training.ppo.rollout import Rollout, response_logprobs, sample
from training.prompt_fit import REPLY_CLOSE, fit_prompts
from training.scoring import reward_scores


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 mixed precision on a GPU; a CPU computes in float32."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


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
    # TRL's sign (OnlineDPOTrainer: `rewards[~contain_eos_token] -= missing_eos_penalty`):
    # a positive penalty lowers the score of a reply cut off at max_new_tokens.
    shaped = scores - config.missing_eos_penalty * (~rollout.ended).to(scores.dtype)  # (B,)
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
    """Steps 1-3: reply to the prompts, score the replies, and turn that into experience.
    A prompt over max_prompt_tokens loses its oldest turns, and the reward model scores
    the prompt as cut: the context the policy replied to."""
    device = next(policy.parameters()).device
    prompts = fit_prompts(tokenizer, prompts, config.max_prompt_tokens)
    started = time.perf_counter()
    with autocast(device):
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
    with torch.no_grad(), autocast(device):
        ref_logprobs = response_logprobs(ref_policy, rollout, config.temperature)
        values = rollout_values(value_model, rollout)
        scores = reward_scores(
            reward_model,
            reward_tokenizer,
            prompts,
            rollout.texts,
            batch_size=len(prompts),
            max_length=config.max_prompt_tokens + config.max_new_tokens + REPLY_CLOSE,
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
