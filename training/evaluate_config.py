"""Settings of `replyloop eval`; each documented field is also a command-line option."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.types import GenerationSettings
from training.bootstrap import RESAMPLES

_SERVED = GenerationSettings()  # how the workers sample, by default


@dataclass(frozen=True)
class EvalConfig:
    max_new_tokens: int = field(default=48, metadata={"help": "tokens per reply, at most"})
    temperature: float = field(
        default=_SERVED.temperature,
        metadata={"help": "sampling temperature (the workers' default)"},
    )
    top_p: float = field(
        default=_SERVED.top_p, metadata={"help": "nucleus sampling (the workers' default)"}
    )
    batch_size: int = field(default=16, metadata={"help": "prompts generated together", "min": 1})
    max_prompt_tokens: int = field(default=256, metadata={"help": "a longer prompt keeps its end"})
    seed: int = field(default=0, metadata={"help": "seed of sampling, prompt draw, bootstrap"})
    per_conversation: int = field(
        default=4,
        metadata={"help": "held-out prompts drawn from one conversation, at most", "min": 1},
    )
    resamples: int = field(
        default=RESAMPLES,
        metadata={"help": "bootstrap resamples of the prompts (95 %% intervals)", "min": 10},
    )
    best_of: int = field(
        default=4,
        metadata={
            "help": "n of the best-of-n baseline: the baseline's best of n replies under the "
            "policy's training reward model, where its run.json records one (0: not run)",
            "min": 0,
        },
    )
    allow_training_judge: bool = field(
        default=False,
        metadata={
            "help": "judge with the reward model the policy was trained against (the "
            "report then says the judge is not independent)"
        },
    )
