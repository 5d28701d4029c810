"""Who judges `replyloop eval`: never the reward model a compared model was trained against.

PPO pushes the policy up the reward model's surface, flaws and all; scored by that same
model, a policy that learnt its blind spots (short stock replies, say) "wins" whether or
not people would prefer it (Gao et al. 2022, "Scaling Laws for Reward Model
Overoptimization": the proxy reward keeps rising while the gold reward falls). So the
judge is refused when it is the policy's (or the baseline's) training reward model: the
same folder, or the same weights under another name or registered version. A judge from
`replyloop train rm` with its own data and seed is independent; the report lists its data
files and seed beside the training RM's, so a reader can see that they differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.runs import RunMismatch, recorded_reward_model, run_manifest, weights_digest


class TrainingJudge(RunMismatch):
    """--reward names the reward model a compared model was trained against."""


@dataclass(frozen=True)
class Judge:
    path: Path
    version: str
    independent: str  # "yes", "no", or "unknown", with why
    training_rm: Path | None  # the policy's training reward model, where recorded
    runs: dict[str, Any] = field(default_factory=dict)  # run.json facts of judge and RM

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "path": str(self.path),
            "independent": self.independent,
            "policy_training_rm": None if self.training_rm is None else str(self.training_rm),
            **self.runs,
        }


def choose_judge(
    judge_dir: Path, version: str, models: dict[str, Path], allow_training_judge: bool
) -> Judge:
    """The judge `judge_dir`, checked against the training reward model of each of
    `models` ({"policy": folder, "baseline": folder}); TrainingJudge if it is one of them,
    unless `allow_training_judge` (then the report says it is not independent)."""
    digest: str | None = None
    same: list[str] = []
    unknown: list[str] = []
    for role, model_dir in models.items():
        manifest = run_manifest(model_dir)
        trained = recorded_reward_model(model_dir)
        if trained is None:
            # A policy from elsewhere, or a PPO run from before its RM was recorded.
            if role == "policy" and (manifest is None or manifest.get("kind") == "ppo"):
                unknown.append(role)
            continue
        if Path(trained.path).resolve() == judge_dir.resolve():
            same.append(role)
            continue
        digest = digest or weights_digest(judge_dir)
        if trained.weights == digest:
            same.append(role)
    if same and not allow_training_judge:
        raise TrainingJudge(
            f"--reward {version} is the reward model the {' and '.join(same)} was trained "
            "against, so its scores show how well training optimised it, not whether the "
            "replies got better; judge with a reward model trained with its own data and "
            "seed (replyloop train rm), or pass --allow-training-judge"
        )
    if same:
        independent = f"no: the {' and '.join(same)}'s training reward model (allowed)"
    elif unknown:
        independent = f"unknown: no record of the {' and '.join(unknown)}'s reward model"
    else:
        independent = "yes"
    trained = recorded_reward_model(models["policy"]) if "policy" in models else None
    training_rm = Path(trained.path) if trained is not None else None
    runs = {"judge_run": _run_facts(judge_dir)}
    if training_rm is not None:
        runs["policy_training_rm_run"] = _run_facts(training_rm)
        if independent == "yes":
            independent = _overlap(judge_dir, training_rm)
    return Judge(judge_dir, version, independent, training_rm, runs)


def _overlap(judge_dir: Path, training_rm: Path) -> str:
    """How independent a judge with other weights is: trained on the other half of the
    training conversations (`train rm --train-part a|b`), or maybe on some of the same."""
    parts = [_train_part(judge_dir), _train_part(training_rm)]
    if set(parts) == {"a", "b"}:
        return "yes: trained on conversations disjoint from the training RM's (parts a and b)"
    return (
        "yes: other weights, but its training conversations may overlap the training RM's "
        f"(train parts {parts[0]} and {parts[1]}; train them with --train-part a and b)"
    )


def _train_part(model_dir: Path) -> str:
    settings = (run_manifest(model_dir) or {}).get("settings") or {}
    return str(settings.get("train_part", "all"))


def _run_facts(model_dir: Path) -> dict[str, Any] | None:
    """What a reward model's run.json says it was trained on: data files and seed."""
    manifest = run_manifest(model_dir)
    if manifest is None:
        return None
    return {
        "kind": manifest.get("kind"),
        "data": [source.get("name") for source in manifest.get("data", [])],
        "seed": manifest.get("seed"),
        "held_out": manifest.get("held_out"),
    }
