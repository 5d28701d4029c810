"""`--report-to tensorboard`: a TRL trainer's run (RLOO) and our own PPO each leave event
files in OUT/tensorboard with their logged figures as scalars, read back with
TensorBoard's own EventAccumulator; and every trainer takes the option."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from replyloop.cli import parser
from tests.integration import test_ppo
from tests.integration.training_fixtures import offline  # noqa: F401 - autouse: no network
from training.ppo.ppo_trainer import train_ppo
from training.rloo_config import RlooConfig
from training.rloo_trainer import train_rloo
from training.runs import DataSource, RunFolder

PROMPTS, SMALL = test_ppo.PROMPTS, test_ppo.SMALL
models = test_ppo.models  # the fixture: (policy, reward model) folders, tiny

# Each trainer's required options besides --out.
REQUIRED = {
    "sft": [],
    "rm": ["--base", "b"],
    "ppo": ["--policy", "p", "--reward", "r"],
    "kto": ["--policy", "p", "--votes", "v"],
    "dpo": ["--policy", "p"],
    "rloo": ["--policy", "p", "--reward", "r"],
}


def scalars(run: RunFolder) -> dict[str, list[int]]:
    """Each scalar tag in the run's event files, with the steps it was written at."""
    found: dict[str, list[int]] = {}
    for events in sorted((run.root / "tensorboard").glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            found.setdefault(tag, []).extend(e.step for e in accumulator.Scalars(tag))
    return found


@pytest.mark.parametrize("trainer", sorted(REQUIRED))
def test_every_trainer_takes_the_option(trainer: str) -> None:
    command = ["train", trainer, "--out", "x", *REQUIRED[trainer]]
    assert parser().parse_args(command).report_to == "none"
    assert parser().parse_args([*command, "--report-to", "tensorboard"]).report_to == "tensorboard"


def test_a_trl_trainer_writes_its_figures(models: tuple[Path, Path], tmp_path: Path) -> None:
    policy, reward = models
    config = RlooConfig(
        max_steps=2, batch_size=4, num_generations=2, max_new_tokens=4, max_length=64,
        logging_steps=1, eval_prompts=2, report_to="tensorboard",
    )  # fmt: skip
    run = RunFolder(tmp_path / "run")
    data = [DataSource("prompts", len(PROMPTS))]
    train_rloo(policy, reward, run, PROMPTS[:4], PROMPTS[4:] * 2, config, data, None)
    found = scalars(run)
    for tag in ("train/loss", "train/reward", "train/kl", "train/completions/mean_length"):
        assert found.get(tag) == [1, 2], tag
    assert found.get("eval/reward") == [2]  # the evaluation after training
    assert "report_to" not in run.manifest()["settings"]  # a resume may change it


def test_ppo_writes_its_figures_also_after_a_resume(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    """A run started without the option and resumed with it: the second step is reported."""
    policy, reward = models
    run = RunFolder(tmp_path / "run")
    train_ppo(policy, reward, run, PROMPTS, replace(SMALL, steps=1))
    assert not (run.root / "tensorboard").exists()
    train_ppo(policy, reward, run, PROMPTS, replace(SMALL, steps=2, report_to="tensorboard"))
    found = scalars(run)
    for tag in ("train/reward", "train/kl", "train/policy_loss", "train/value_loss"):
        assert found.get(tag) == [2], tag
