"""PPO's arithmetic as pure tensor functions: no models, no tokenizers.

Per-token tensors are (B, R): one row a rollout, one column a response token, with a
`mask` (B, R) that is 1 on the tokens the policy produced (through the first end-of-turn)
and 0 on the padding after it. The formulas follow InstructGPT (Ouyang et al. 2022) as
implemented by TRL's PPOv2 trainer (`trl/trainer/ppo_trainer.py`, removed in TRL 1.13).
"""

from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the entries where mask is 1.

    >>> masked_mean(torch.tensor([[1.0, 3.0, 100.0]]), torch.tensor([[1, 1, 0]]))
    tensor(2.)
    """
    assert values.shape == mask.shape, (values.shape, mask.shape)
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def masked_var(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased variance of the entries where mask is 1."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    count = mask.sum()
    assert count > 1, "the variance of fewer than two values is undefined"
    return var * count / (count - 1)


def masked_whiten(
    values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True
) -> torch.Tensor:
    """Scaled to unit variance (and mean 0 unless shift_mean=False) over the masked
    entries; padding comes out as 0."""
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log p(token) under softmax(logits), without materialising the (B, R, V) log-softmax
    (TRL's selective_log_softmax). logits: (B, R, V), tokens: (B, R) -> (B, R)

    >>> logprobs_from_logits(torch.zeros(1, 1, 4), torch.tensor([[2]])).exp()
    tensor([[0.2500]])
    """
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # (B, R)
    return picked - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) in nats. (..., V) -> (...)

    >>> entropy_from_logits(torch.zeros(4))  # uniform over 4: log 4
    tensor(1.3863)
    """
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)


def kl_penalized_rewards(
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    scores: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """InstructGPT's per-token reward: -β·(log π(y_t) - log π_ref(y_t)) at every response
    token, plus the reward model's score at the last one. Returns (rewards, kl), both (B, R).

    >>> rewards, kl = kl_penalized_rewards(torch.tensor([[-1.0, -1.0, -1.0]]),
    ...     torch.tensor([[-2.0, -1.0, -1.0]]), torch.tensor([2.0]), torch.tensor([[1, 1, 0]]),
    ...     kl_coef=0.1)
    >>> kl, rewards
    (tensor([[1., 0., 0.]]), tensor([[-0.1000,  2.0000,  0.0000]]))
    """
    assert logprobs.shape == ref_logprobs.shape == mask.shape
    assert scores.shape == (mask.shape[0],)
    kl = (logprobs - ref_logprobs) * mask  # (B, R)
    rewards = (ref_logprobs - logprobs) * mask * kl_coef  # (B, R) = -β·kl
    last = mask.sum(-1).long() - 1  # (B,) index of each row's last response token
    assert bool((last >= 0).all()), "every rollout has at least one response token"
    rewards = rewards.scatter_add(1, last.unsqueeze(1), scores.unsqueeze(1).to(rewards.dtype))
    return rewards, kl


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016) backwards over the response.
    A masked position neither earns nor passes on anything, so the value after the last
    real token is 0 (the episode ends there). Returns (advantages, returns), both (B, R)."""
    assert rewards.shape == values.shape == mask.shape
    mask = mask.to(values.dtype)
    rewards, values = rewards * mask, values * mask
    width = rewards.shape[1]
    advantages = torch.zeros_like(rewards)  # (B, R)
    running = torch.zeros_like(rewards[:, 0])  # (B,)
    for t in reversed(range(width)):
        next_value = values[:, t + 1] if t + 1 < width else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    returns = (advantages + values) * mask
    return advantages, returns


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate, to minimise. Returns (loss, clipfrac, approx_kl): clipfrac is
    the share of tokens whose clipped term was the larger (so gave no gradient), approx_kl
    is ½·E[(log r)²] between the policy now and the one that sampled."""
    log_ratio = logprobs - old_logprobs  # (B, R)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    clipfrac = masked_mean((clipped > unclipped).float(), mask)
    approx_kl = 0.5 * masked_mean(log_ratio.detach() ** 2, mask)
    return loss, clipfrac.detach(), approx_kl


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    cliprange_value: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clipped value loss of OpenAI's PPO2 (and TRL): the worse of the new value's
    squared error and that of the value moved at most cliprange_value from the old one.
    Returns (loss, clipfrac)."""
    clipped = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(unclipped_error, clipped_error), mask)
    clipfrac = masked_mean((clipped_error > unclipped_error).float(), mask)
    return loss, clipfrac.detach()


class FixedKLController:
    """β stays where it was set."""

    def __init__(self, kl_coef: float) -> None:
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        pass


class AdaptiveKLController:
    """Ziegler et al. 2019 (§2.2): β is nudged so the KL drifts towards a target, by at most
    20% of its error per horizon's worth of samples."""

    def __init__(self, kl_coef: float, target: float, horizon: int) -> None:
        self.value = kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        """current_kl: mean per-sequence KL of the last batch; n_steps: its sequences."""
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
