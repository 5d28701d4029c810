"""Settings of `replyloop train rloo`; each documented field is also a command-line option
(the shared ones in training.trainer_config).

RLOO (Ahmadian et al. 2024, "Back to Basics") samples `num_generations` replies a prompt,
scores each with the reward model less beta times its KL to the starting policy, and takes
as a reply's baseline the mean of the other replies to the same prompt: no value model.
Defaults are TRL 1.16's RLOOConfig's where it has one (beta 0.05, learning rate 1e-6),
and PPO's reply length (48 tokens) here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from training.trainer_config import TrainerSettings, learning_rate, missing_eos_penalty


@dataclass(frozen=True)
class RlooConfig(TrainerSettings):
    learning_rate: float = learning_rate(1e-6)
    batch_size: int = field(
        default=8,
        metadata={
            "help": "replies per device per forward pass: a multiple of num_generations "
            "(batch_size / num_generations prompts a step)",
            "min": 2,
        },
    )
    max_length: int = field(
        default=304,
        metadata={
            "help": "tokens of prompt and reply: a longer prompt loses its oldest turns "
            "(never its system prompt or newest message) to leave max_new_tokens for the "
            "reply; less where the reward model reads fewer"
        },
    )
    num_generations: int = field(
        default=4,
        metadata={
            "help": "replies sampled per prompt; each one's baseline is the others'",
            "min": 2,
        },
    )
    max_new_tokens: int = field(
        default=48, metadata={"help": "reply length limit (tokens)", "min": 1}
    )
    beta: float = field(
        default=0.05,
        metadata={"help": "weight of the KL to the starting policy, taken from the reward"},
    )
    temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature; 1.0 keeps the KL estimate honest"}
    )
    eval_prompts: int = field(
        default=32,
        metadata={
            "help": "held-out prompts whose reward and KL are measured after training (and "
            "every eval_steps), num_generations replies each; 0: none (`replyloop eval` "
            "judges the model either way)"
        },
    )
    missing_eos_penalty: float = missing_eos_penalty()

    def __post_init__(self) -> None:
        # TRL's RLOOConfig says the same after the data is read; here it is said at once.
        if self.batch_size % self.num_generations:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of num_generations "
                f"({self.num_generations}): each step scores whole groups of replies"
            )
        if self.temperature <= 0:
            raise ValueError("RLOO samples: temperature must be above 0")
