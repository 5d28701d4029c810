"""Every setting of a bench/loop run; the report repeats it whole."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass
class Plan:
    seed: int = 0
    method: str = "ppo"  # ppo or rloo (against the reward model), or kto (on the votes)
    round0: int = 480  # training-side openers the served model answers, panel A votes on
    round1: int = 128  # held-out openers: the promoted model's round, and eval's prompts
    panel_size: int = 12
    members: int = 5  # raters who see a reply (its chat); each votes on 10-30 % of what they see
    held_out_percent: float = 20.0
    max_new_tokens: int = 48
    in_flight: int = 16
    best_of: int = 4  # the best-of-n baseline under the training reward model
    # chitchat response-selection pairs (the true next reply over another conversation's)
    # that each reward model also learns from, on its own half; 0: the votes alone
    rm_pairs: int = 0
    # the reward models' base: "" for the served model, or an encoder (training.encoder's
    # ENCODER), its head alone trained (as measured in bench/RESULTS.md), with `encoder_rm`
    # in place of `rm`
    rm_base: str = ""
    resamples: int = 1000
    rm: list[str] = field(
        default_factory=lambda: [
            "--freeze-layers", "24", "--learning-rate", "3e-4", "--max-length", "192",
            "--batch-size", "8", "--vote-epochs", "4", "--held-out-percent", "10",
        ]
    )  # fmt: skip
    encoder_rm: list[str] = field(
        default_factory=lambda: [
            "--freeze-layers", "6", "--learning-rate", "1e-3", "--max-length", "128",
            "--batch-size", "16", "--vote-epochs", "4", "--held-out-percent", "10",
        ]
    )  # fmt: skip
    ppo: list[str] = field(
        default_factory=lambda: [
            "--rollout-batch", "8", "--minibatch", "4", "--ppo-epochs", "2",
            "--freeze-layers", "24", "--learning-rate", "2e-5", "--init-kl-coef", "0.05",
            "--max-prompt-tokens", "128", "--steps", "300", "--max-minutes", "25",
        ]
    )  # fmt: skip
    rloo: list[str] = field(
        default_factory=lambda: [
            "--num-generations", "4", "--batch-size", "8", "--learning-rate", "1e-5",
            "--beta", "0.05", "--max-length", "128", "--max-steps", "300",
            "--max-minutes", "25",
        ]
    )  # fmt: skip
    kto: list[str] = field(
        default_factory=lambda: [
            "--epochs", "3", "--batch-size", "8", "--learning-rate", "5e-6",
            "--max-length", "192", "--max-minutes", "25",
        ]
    )  # fmt: skip

    def rm_args(self) -> list[str]:
        """The reward models' options; with chitchat pairs, round 1's conversations (the
        bench's held-out share, the same stable hash) are held out of them too."""
        own = self.encoder_rm if self.rm_base else self.rm
        if not self.rm_pairs:
            return own
        return [
            *own, "--pairs", "chitchat", "--limit", str(self.rm_pairs),
            "--held-out-percent", str(self.held_out_percent),
        ]  # fmt: skip

    def trainer_args(self) -> list[str]:
        """The method's own options."""
        return {"ppo": self.ppo, "rloo": self.rloo, "kto": self.kto}[self.method]

    def with_args(self, trainer: list[str], rm: list[str]) -> Plan:
        """This plan with more options for the method's trainer and the reward models,
        after the plan's own (the trainers' option parsers keep the last given)."""
        plan = replace(self, rm=[*self.rm, *rm], encoder_rm=[*self.encoder_rm, *rm])
        setattr(plan, self.method, [*self.trainer_args(), *trainer])  # ppo, rloo or kto
        return plan


METHODS = ("ppo", "rloo", "kto")

TINY = Plan(
    round0=64,
    round1=12,
    panel_size=4,
    members=4,
    max_new_tokens=6,
    in_flight=8,
    best_of=2,
    resamples=50,
    rm=["--batch-size", "4", "--vote-epochs", "1", "--held-out-percent", "20"],
    ppo=["--steps", "2", "--rollout-batch", "4", "--minibatch", "2", "--ppo-epochs", "1"],
    rloo=["--num-generations", "2", "--batch-size", "2", "--max-steps", "2"],
    kto=["--max-steps", "2", "--batch-size", "4"],
)
