"""`--lora-r` and its companions as options, apart from training.lora so that the command
line (and every process that builds it: the io worker too) never imports torch or PEFT."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LoraOptions:
    """`--lora-r` and its companions; the same on every `replyloop train` command."""

    lora_r: int = field(
        default=0,
        metadata={
            "help": "train LoRA adapters of this rank instead of the whole model (0: full "
            "fine-tune); the run folder gets adapter/ and the merged model/",
            "min": 0,
        },
    )
    lora_alpha: int = field(
        default=0,
        metadata={"help": "LoRA's α: the update is scaled by α/r (0: 2·r)", "min": 0},
    )
    lora_dropout: float = field(
        default=0.05,
        metadata={
            "help": "dropout on the adapters' input (PPO, RLOO and the reward model run with "
            "dropout off, so there it has no effect)",
            "min": 0.0,
        },
    )
    lora_targets: str = field(
        default="",
        metadata={
            "help": "comma-separated names of the linear modules to adapt (empty: the "
            "attention and MLP projections the model has)"
        },
    )

    @property
    def enabled(self) -> bool:
        return self.lora_r > 0

    @property
    def alpha(self) -> int:
        return self.lora_alpha or 2 * self.lora_r


NO_LORA = LoraOptions()
