"""PPO's settings; every field with help text is also a `replyloop train ppo` option.

Defaults follow InstructGPT (Ouyang et al. 2022, appendix C.4) and TRL's PPOv2 config,
scaled to a small model on a CPU: 16 prompts a step, up to 48 new tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from training.trainer_config import Reporting, missing_eos_penalty


@dataclass(frozen=True)
class PpoConfig(Reporting):
    steps: int = field(default=200, metadata={"help": "PPO iterations (rollout + update)"})
    rollout_batch: int = field(
        default=16, metadata={"help": "prompts sampled per iteration", "min": 1}
    )
    minibatch: int = field(default=8, metadata={"help": "rollouts per gradient step", "min": 1})
    ppo_epochs: int = field(default=4, metadata={"help": "passes over each batch of rollouts"})
    learning_rate: float = field(default=1e-5, metadata={"help": "policy AdamW learning rate"})
    value_learning_rate: float = field(
        default=1e-5, metadata={"help": "value model AdamW learning rate"}
    )
    init_kl_coef: float = field(
        default=0.03, metadata={"help": "β: weight of the per-token KL penalty to the SFT model"}
    )
    adaptive_kl: bool = field(
        default=False, metadata={"help": "adapt β towards target_kl (Ziegler et al. 2019)"}
    )
    target_kl: float = field(
        default=6.0, metadata={"help": "adaptive β: the per-sequence KL (nats) to aim at"}
    )
    kl_horizon: int = field(
        default=10000,
        metadata={"help": "adaptive β: rollouts over which β moves by at most a fifth"},
    )
    gamma: float = field(default=1.0, metadata={"help": "GAE discount"})
    lam: float = field(default=0.95, metadata={"help": "GAE λ"})
    cliprange: float = field(default=0.2, metadata={"help": "policy ratio clip ε"})
    cliprange_value: float = field(default=0.2, metadata={"help": "value clip around old values"})
    vf_coef: float = field(
        default=0.1,
        metadata={"help": "weight of the value loss (its own AdamW: matters against clipping)"},
    )
    max_new_tokens: int = field(default=48, metadata={"help": "reply length limit (tokens)"})
    temperature: float = field(
        default=1.0,
        metadata={"help": "sampling temperature; 1.0 keeps the KL estimate honest"},
    )
    top_k: int = field(default=0, metadata={"help": "sample among the k likeliest (0 = all)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass (1.0 = all)"})
    max_prompt_tokens: int = field(
        default=256,
        metadata={
            "help": "prompt budget (tokens): a longer prompt loses its oldest turns, never "
            "its system prompt or newest message; less where the reward model reads fewer"
        },
    )
    ptx_coef: float = field(
        default=0.0, metadata={"help": "γ_ptx: weight of the LM loss on --ptx rows (0 = off)"}
    )
    ptx_batch: int = field(default=8, metadata={"help": "ptx rows per gradient step"})
    missing_eos_penalty: float = missing_eos_penalty()
    whiten_rewards: bool = field(
        default=False, metadata={"help": "scale per-token rewards to unit variance per batch"}
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm"})
    freeze_layers: int = field(
        default=0,
        metadata={
            "help": "freeze the embeddings and this many lowest layers of the policy and the "
            "value model (0: train all; on a CPU, freezing most layers makes a step several "
            "times cheaper)"
        },
    )
    max_minutes: float = field(
        default=0.0,
        metadata={
            "help": "stop after the step that passes this many minutes, checkpoint and model "
            "saved (0: no limit; running again on the folder resumes)"
        },
    )
    save_every: int = field(default=20, metadata={"help": "checkpoint every N iterations"})
    seed: int = field(default=0, metadata={"help": "seed for prompt order and sampling"})

    def __post_init__(self) -> None:
        if self.rollout_batch % self.minibatch:
            raise ValueError("rollout_batch must be a multiple of minibatch")
        if self.temperature <= 0:
            raise ValueError("PPO samples: temperature must be above 0")
        if self.missing_eos_penalty < 0:
            # It once was added, not subtracted: a negative value meant a penalty then.
            raise ValueError("missing_eos_penalty is subtracted (as TRL's): give it as >= 0")
