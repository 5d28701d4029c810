"""PPO's arithmetic on numbers small enough to check by hand."""

from __future__ import annotations

import pytest
import torch

from training.ppo.core import (
    AdaptiveKLController,
    FixedKLController,
    gae,
    kl_penalized_rewards,
    masked_mean,
    masked_whiten,
    policy_loss,
    value_loss,
)


def close(actual: torch.Tensor, expected: list[list[float]] | list[float] | float) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected), rtol=0, atol=1e-6)


def test_gae_by_hand() -> None:
    # γ = 1, λ = 0.95, reward only at the end, values 0.5, 0.6, 0.7:
    #   δ2 = 1 - 0.7 = 0.3                      A2 = 0.3
    #   δ1 = 0 + 0.7 - 0.6 = 0.1                A1 = 0.1 + 0.95·0.3 = 0.385
    #   δ0 = 0 + 0.6 - 0.5 = 0.1                A0 = 0.1 + 0.95·0.385 = 0.46575
    # returns = A + V = 0.96575, 0.985, 1.0
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7]])
    advantages, returns = gae(rewards, values, torch.ones(1, 3), gamma=1.0, lam=0.95)
    close(advantages, [[0.46575, 0.385, 0.3]])
    close(returns, [[0.96575, 0.985, 1.0]])


def test_gae_discounts_with_gamma() -> None:
    # γ = 0.5, λ = 1: A_t = Σ γ^k r_{t+k} - V_t; one reward of 1 at the end of two tokens.
    advantages, returns = gae(
        torch.tensor([[0.0, 1.0]]), torch.tensor([[0.2, 0.4]]), torch.ones(1, 2), 0.5, 1.0
    )
    close(advantages, [[0.5 - 0.2, 1.0 - 0.4]])
    close(returns, [[0.5, 1.0]])


def test_gae_ignores_padding() -> None:
    """Whatever sits in padded positions, the real tokens' advantages are those of the
    unpadded sequence, and the padding's are 0."""
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    rewards = torch.tensor([[0.0, 0.0, 1.0, 50.0, -7.0]])
    values = torch.tensor([[0.5, 0.6, 0.7, 9.0, 3.0]])
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.95)
    close(advantages, [[0.46575, 0.385, 0.3, 0.0, 0.0]])
    close(returns, [[0.96575, 0.985, 1.0, 0.0, 0.0]])


def test_kl_penalty_is_zero_for_identical_models() -> None:
    logprobs = torch.tensor([[-1.2, -0.3, -2.0, -0.7], [-0.1, -4.0, -0.5, -0.9]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    rewards, kl = kl_penalized_rewards(
        logprobs, logprobs.clone(), torch.tensor([0.8, -1.5]), mask, kl_coef=0.05
    )
    close(kl, [[0.0] * 4, [0.0] * 4])
    close(rewards, [[0.0, 0.0, 0.8, 0.0], [0.0, 0.0, 0.0, -1.5]])


def test_kl_penalty_per_token() -> None:
    logprobs = torch.tensor([[-1.0, -2.0, -3.0]])
    ref = torch.tensor([[-1.5, -1.0, -9.0]])  # last one is padding
    rewards, kl = kl_penalized_rewards(
        logprobs, ref, torch.tensor([1.0]), torch.tensor([[1, 1, 0]]), kl_coef=0.1
    )
    close(kl, [[0.5, -1.0, 0.0]])
    close(rewards, [[-0.05, 0.1 + 1.0, 0.0]])


def test_policy_loss_clips() -> None:
    old = torch.zeros(1, 4)
    # ratios e^0.5 ≈ 1.65, e^-0.5 ≈ 0.61, 1, e^0.1 ≈ 1.105; advantages +1, +1, -1, -1
    new = torch.tensor([[0.5, -0.5, 0.0, 0.1]])
    advantages = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    loss, clipfrac, approx_kl = policy_loss(new, old, advantages, torch.ones(1, 4), 0.2)
    # token 0: ratio above 1.2 with A>0: clipped term -1.2 is larger than -1.65 -> clipped
    # token 1: ratio 0.61 with A>0: -0.61 vs -0.8 -> unclipped (-0.61) is larger
    # token 2: ratio 1 -> both 1
    # token 3: ratio 1.105 with A<0: 1.105 vs 1.105 -> not clipped (inside the range)
    r1, r3 = torch.exp(torch.tensor(-0.5)), torch.exp(torch.tensor(0.1))
    close(loss, float((-1.2 - r1 + 1.0 + r3) / 4))
    close(clipfrac, 0.25)
    close(approx_kl, 0.5 * (0.25 + 0.25 + 0.0 + 0.01) / 4)


def test_policy_loss_ignores_padding() -> None:
    old = torch.zeros(1, 2)
    new = torch.tensor([[0.0, 3.0]])  # the padded token would be clipped
    loss, clipfrac, _ = policy_loss(
        new, old, torch.tensor([[2.0, 2.0]]), torch.tensor([[1, 0]]), 0.2
    )
    close(loss, -2.0)
    close(clipfrac, 0.0)


def test_value_loss_clips() -> None:
    old = torch.tensor([[0.0, 0.0]])
    new = torch.tensor([[1.0, 0.1]])
    returns = torch.tensor([[2.0, 2.0]])
    loss, clipfrac = value_loss(new, old, returns, torch.ones(1, 2), cliprange_value=0.2)
    # token 0: unclipped error (1-2)² = 1, clipped value 0.2 -> (0.2-2)² = 3.24, larger
    # token 1: 0.1 is inside the range, both errors (0.1-2)² = 3.61
    close(loss, 0.5 * (3.24 + 3.61) / 2)
    close(clipfrac, 0.5)


def test_masked_whiten() -> None:
    values = torch.tensor([[1.0, 2.0, 3.0, 1000.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    whitened = masked_whiten(values, mask)
    # mean 2, unbiased variance 1
    close(whitened, [[-1.0, 0.0, 1.0, 0.0]])
    close(masked_mean(whitened, mask), 0.0)
    kept = masked_whiten(values, mask, shift_mean=False)
    close(kept, [[1.0, 2.0, 3.0, 0.0]])


def test_adaptive_kl_controller() -> None:
    high = AdaptiveKLController(0.1, target=6.0, horizon=10000)
    high.update(current_kl=12.0, n_steps=100)  # error clipped to +0.2
    assert high.value == pytest.approx(0.1 * (1 + 0.2 * 100 / 10000))
    low = AdaptiveKLController(0.1, target=6.0, horizon=10000)
    low.update(current_kl=5.4, n_steps=100)  # error -0.1
    assert low.value == pytest.approx(0.1 * (1 - 0.1 * 100 / 10000))
    fixed = FixedKLController(0.1)
    fixed.update(current_kl=100.0, n_steps=100)
    assert fixed.value == 0.1
