"""`replyloop train rloo`: the policy learns against our reward model with TRL's
RLOOTrainer (REINFORCE Leave-One-Out, Ahmadian et al. 2024): PPO's aim without its value
model.

Each step samples `num_generations` replies to each prompt, and per reply i of a prompt

    r_i = score(prompt, reply_i) - missing_eos_penalty * [reply_i cut off]
          - beta * KL_i(policy || starting policy)
    advantage_i = r_i - mean(r_j for the prompt's other replies j)

then a clipped policy-gradient step (TRL 1.16, `_generate_and_score_completions`). The
reference is the starting policy, which TRL loads again from the policy's folder (also on a
resumed run: the reference never moves); with --lora-r, the policy with its adapters off.

The score is training.scoring's, the one PPO and `replyloop eval` use: the reward model
(made from the policy, or an encoder's: training.encoder) sees the prompt exactly as the
policy did (cut once, here, by whole turns:
training.prompt_fit) and never more tokens than `train rm` trained it on. TRL's own
reward-model path would apply the template to the uncut text and score all of it.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from trl import RLOOConfig, RLOOTrainer

from core.types import ChatMessage
from training.data.chitchat import DataError
from training.encoder import is_encoder_tokenizer
from training.lora import NO_LORA, LoraOptions, record_trainer, trl_peft_config
from training.models import check_same_tokenizer, load_policy, load_scorer, load_tokenizer
from training.prompt_fit import REPLY_CLOSE, fit_prompts, prompt_budget
from training.rloo_config import RlooConfig
from training.run_callbacks import (
    Figures,
    Offline,
    recorded_settings,
    train_to_end,
    trainer_arguments,
)
from training.runs import DataSource, RunFolder, TrainedAgainst
from training.scoring import reward_scores

KIND = "rloo"
# What TRL logs during training (averaged over the logging interval) that train_rloo
# returns; "reward" is the score less the missing-EOS penalty, before the KL term.
TRAIN_METRICS = (
    "reward",
    "reward_std",
    "kl",
    "completions/mean_length",
    "completions/clipped_ratio",
)
EVAL_METRICS = ("eval_reward", "eval_reward_std", "eval_kl", "eval_completions/mean_length")


class RlooTrainer(Offline, RLOOTrainer):
    """TRL's RLOOTrainer, silent towards the Hub."""


class RewardModelScore:
    """A TRL reward function: the reward model's score of each reply to its prompt, less
    `missing_eos_penalty` where the reply was cut off before end-of-turn (TRL's sign:
    `scores[~contains_eos] -= missing_eos_penalty`). `eos_ids` are the trainer's own
    end-of-turn ids, set once it is built."""

    __name__ = "reward_model"  # TRL names its metrics after it: rewards/reward_model/mean

    def __init__(self, model: Any, tokenizer: Any, max_length: int, missing_eos_penalty: float):
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.missing_eos_penalty = missing_eos_penalty
        self.eos_ids: frozenset[int] = frozenset()

    def __call__(
        self,
        prompts: Sequence[Sequence[ChatMessage]],
        completions: Sequence[Sequence[ChatMessage]],
        completion_ids: Sequence[Sequence[int]],
        **_: Any,
    ) -> list[float | None]:
        replies = [completion[0]["content"] for completion in completions]
        scores = reward_scores(
            self.model, self.tokenizer, prompts, replies, len(replies), self.max_length
        )
        cut = [not ids or ids[-1] not in self.eos_ids for ids in completion_ids]
        return [score - self.missing_eos_penalty * c for score, c in zip(scores, cut, strict=True)]


def make_trainer(
    policy_dir: Path,
    reward_dir: Path,
    run: RunFolder,
    prompts: list[list[ChatMessage]],
    eval_prompts: list[list[ChatMessage]],
    config: RlooConfig,
    lora: LoraOptions = NO_LORA,
) -> RlooTrainer:
    """The RLOOTrainer for this run, its prompts cut to the budget, before any step."""
    tokenizer = load_tokenizer(policy_dir)
    reward_tokenizer = load_tokenizer(reward_dir)
    if not is_encoder_tokenizer(reward_tokenizer):  # an encoder's reads the replies' text
        check_same_tokenizer(
            tokenizer,
            reward_tokenizer,
            f"the policy {policy_dir}",
            f"the reward model {reward_dir}",
        )
    # Cut every prompt once, here: a system prompt too long for the budget fails now, not
    # at a later step, and the reward model scores the context the policy saw.
    wanted = config.max_length - config.max_new_tokens
    if wanted <= 0:
        raise DataError(
            f"max_length={config.max_length} leaves no room for a prompt beside a reply of "
            f"max_new_tokens={config.max_new_tokens}"
        )
    budget = prompt_budget(wanted, config.max_new_tokens, reward_tokenizer, KIND)
    train = fit_prompts(tokenizer, prompts, budget)
    held_out = fit_prompts(tokenizer, eval_prompts, budget)
    reward_model = load_scorer(reward_dir)
    reward_model.eval()
    reward_model.requires_grad_(False)
    score = RewardModelScore(
        reward_model,
        reward_tokenizer,
        budget + config.max_new_tokens + REPLY_CLOSE,
        config.missing_eos_penalty,
    )
    arguments = trainer_arguments(run, config, evaluating=bool(held_out))
    del arguments["max_length"]  # RLOOConfig has none: prompts are cut above, replies below
    args = RLOOConfig(
        **arguments,
        num_generations=config.num_generations,
        max_completion_length=config.max_new_tokens,
        beta=config.beta,
        temperature=config.temperature,
        # PPO's ratio compares two passes over the same weights: dropout would be noise.
        disable_dropout=True,
    )
    model = load_policy(policy_dir)
    trainer = RlooTrainer(
        model=model,
        peft_config=trl_peft_config(model, lora),
        reward_funcs=score,
        args=args,
        train_dataset=Dataset.from_list([{"prompt": p} for p in train]),
        eval_dataset=Dataset.from_list([{"prompt": p} for p in held_out]) if held_out else None,
        processing_class=tokenizer,
    )
    score.eos_ids = frozenset(trainer.eos_token_ids)
    reward_model.to(trainer.accelerator.device)
    return trainer


def evaluated_prompts(
    held_out: list[list[ChatMessage]], config: RlooConfig
) -> list[list[ChatMessage]]:
    """At most `eval_prompts` of the held-out prompts (seeded): each costs num_generations
    replies, and `replyloop eval` is the real judge."""
    if len(held_out) <= config.eval_prompts:
        return held_out
    return random.Random(config.seed).sample(held_out, config.eval_prompts)


def train_rloo(
    policy_dir: Path,
    reward_dir: Path,
    run: RunFolder,
    prompts: list[list[ChatMessage]],
    held_out: list[list[ChatMessage]],
    config: RlooConfig,
    data: list[DataSource],
    parent: str | None,
    lora: LoraOptions = NO_LORA,
) -> dict[str, float]:
    """Train the policy in `policy_dir` against the reward model in `reward_dir` on
    `prompts` into `run`, resuming its newest checkpoint if there is one. Returns
    train_loss, the last logged reward, reward_std, kl and reply lengths, prompt counts,
    steps and seconds; and eval_reward, eval_kl, ... on up to eval_prompts `held_out`
    prompts when there are any."""
    started = time.monotonic()
    if not prompts:
        raise DataError(
            f"RLOO needs prompts to reply to; none to train on ({len(held_out)} held out)"
        )
    evaluated = evaluated_prompts(held_out, config)
    trainer = make_trainer(policy_dir, reward_dir, run, prompts, evaluated, config, lora)
    counted = {
        "prompts": float(len(prompts)),
        "prompts_held_out": float(len(held_out)),
        "prompts_evaluated": float(len(evaluated)),
    }
    if trainer.is_world_process_zero():
        run.reward_model = TrainedAgainst.of(reward_dir)  # eval refuses it as a judge
        record_trainer(trainer, run, lora)
        run.start(KIND, parent, data, recorded_settings(config), config.seed)
        print(
            f"rloo: {len(prompts)} prompts, {config.num_generations} replies each; "
            f"{len(evaluated)} of {len(held_out)} held out evaluated",
            file=sys.stderr,
        )
        run.log(trainer.state.global_step, **counted)
    figures = Figures(TRAIN_METRICS, EVAL_METRICS if evaluated else None, counted)
    return train_to_end(trainer, run, config.max_minutes, figures, started)
