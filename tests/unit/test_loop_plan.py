"""bench/loop's plan: options given on its command line reach the trainers after the
plan's own, so they win."""

from __future__ import annotations

import argparse

from bench.loop.plan import Plan
from training.config_cli import add_config_arguments
from training.ppo.ppo_config import PpoConfig


def test_a_trainer_option_given_wins_over_the_plans() -> None:
    plan = Plan(method="ppo").with_args(["--learning-rate=3e-5"], ["--vote-epochs", "2"])
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, PpoConfig)
    given, _rest = parser.parse_known_args(plan.trainer_args())
    assert given.learning_rate == 3e-5
    assert Plan().ppo[Plan().ppo.index("--learning-rate") + 1] == "2e-5"  # the plan's, overridden
    assert plan.rm_args()[-2:] == ["--vote-epochs", "2"]


def test_options_go_to_the_method_run_only() -> None:
    plan = Plan(method="kto").with_args(["--epochs=1"], [])
    assert plan.kto[-1] == "--epochs=1"
    assert plan.ppo == Plan().ppo and plan.rm == Plan().rm


def test_an_encoder_reward_model_gets_its_own_options_and_the_extra_ones() -> None:
    plan = Plan(rm_base="all-minilm-l6-v2", rm_pairs=3000).with_args([], ["--epochs=2"])
    args = plan.rm_args()
    assert args[args.index("--freeze-layers") + 1] == "6"  # MiniLM's 6 layers, not 24 of 30
    assert args[: len(Plan().encoder_rm)] == Plan().encoder_rm
    assert args[-7:] == ["--epochs=2", "--pairs", "chitchat", "--limit", "3000",
                         "--held-out-percent", "20.0"]  # fmt: skip
    assert Plan().with_args([], ["--epochs=2"]).rm_args()[-1] == "--epochs=2"
