"""Settings of `replyloop eval`; each documented field is also a command-line option."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.types import GenerationSettings

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
    seed: int = field(default=0, metadata={"help": "sampling seed"})
