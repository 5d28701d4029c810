"""PPO's experience from a rollout built by hand: what the reply's score becomes."""

from __future__ import annotations

import pytest
import torch

from training.ppo.experience import make_experience
from training.ppo.ppo_config import PpoConfig
from training.ppo.rollout import Rollout


def two_replies() -> Rollout:
    """One prompt token and two replies of two tokens: the first ended with end-of-turn
    (id 9), the second was cut off at the token limit."""
    input_ids = torch.tensor([[5, 7, 9], [5, 7, 8]])  # (B, P + R)
    mask = torch.ones_like(input_ids)
    return Rollout(
        input_ids=input_ids,
        attention_mask=mask,
        response_mask=mask[:, 1:],
        query_width=1,
        texts=["a", "ab"],
        ended=torch.tensor([True, False]),
    )


def test_missing_eos_penalty_lowers_a_cut_off_reply() -> None:
    """As TRL's: a positive penalty is subtracted from the score of a reply that did not
    end. With no KL, zero values and γ = λ = 1, every return is the reply's final reward."""
    config = PpoConfig(missing_eos_penalty=1.0, gamma=1.0, lam=1.0)
    zeros = torch.zeros(2, 2)  # (B, R)
    experience, _ = make_experience(
        two_replies(), zeros, zeros, zeros, torch.tensor([0.5, 0.5]), 0.0, config
    )
    torch.testing.assert_close(experience.returns, torch.tensor([[0.5, 0.5], [-0.5, -0.5]]))


def test_missing_eos_penalty_refuses_a_negative_value() -> None:
    """The sign was once the other way round: an old negative setting must not silently
    become a bonus for cut-off replies."""
    with pytest.raises(ValueError, match="missing_eos_penalty"):
        PpoConfig(missing_eos_penalty=-1.0)
