"""Pairwise phase: TRL's RewardTrainer on preference rows, loss -logsigmoid(r_chosen - r_rejected),
less each pair's vote margin where its row has counts (`--margin-weights`, on by default:
a pair of 3-0 against 0-3 replies is asked a wider reward gap than 1 👍 against 1 👎).

Two things are ours, so that training optimises exactly the score PPO and eval read
(training/scoring.py):
- rows are tokenized here with scoring's own functions (the chat template of prompt + reply,
  and a text over max_length keeps its end) and handed to TRL as `chosen_ids`/`rejected_ids`,
  which it takes as they are;
- the reward is read where scoring reads it (`sequence_scores`): for a reward model made
  from the policy, at the last token the attention mask keeps. TRL's
  model forward reads it at the rightmost token that is not `config.pad_token_id`; SmolLM2
  pads with <|im_end|>, the token that ends every turn, so with a template whose text ends
  on that token the two positions differ (SmolLM2's own template adds "\n" after it, and
  there they agree). tests/integration/test_reward_model.py shows both cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from datasets import Dataset
from trl import RewardConfig, RewardTrainer

from training.data.exports import TrlRow
from training.data.weights import pair_margin
from training.reward.rm_config import RmConfig
from training.reward.rows import pair_replies
from training.run_callbacks import Offline, RunLog, TimeBudget, resume_from, use_bf16
from training.runs import RunFolder
from training.scalar_log import into_run_folder
from training.scoring import conversation_text, encode_scored, sequence_scores


def scored_ids(tokenizer: Any, prompt: Any, reply: str, max_length: int) -> list[int]:
    """The token ids reward_scores would score for this prompt and reply."""
    ids, _ = encode_scored(tokenizer, [conversation_text(tokenizer, prompt, reply)], max_length)
    row: list[int] = ids[0].tolist()
    return row


def tokenized_pairs(
    tokenizer: Any, rows: Sequence[TrlRow], max_length: int, margins: bool = False
) -> Dataset:
    """The rows as TRL's preference ids; with `margins`, each with the reward gap its votes
    ask for (training.data.weights.pair_margin), which TRL's collator passes on."""
    records = []
    for row in rows:
        prompt, chosen, rejected = pair_replies(row)
        chosen_ids = scored_ids(tokenizer, prompt, chosen, max_length)
        rejected_ids = scored_ids(tokenizer, prompt, rejected, max_length)
        length = max(len(chosen_ids), len(rejected_ids))  # for the length-grouped sampler
        record: dict[str, Any] = {
            "chosen_ids": chosen_ids,
            "rejected_ids": rejected_ids,
            "length": length,
        }
        if margins:
            record["margin"] = pair_margin(row)
        records.append(record)
    return Dataset.from_list(records)


class LastTokenRewardTrainer(Offline, RewardTrainer):
    """TRL's RewardTrainer, its reward read where training/scoring.py reads it (and silent
    towards the Hub)."""

    args: RewardConfig

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        mode = "train" if model.training else "eval"
        # DataCollatorForPreference stacks the chosen rows, then the rejected ones (right-padded)
        rewards = sequence_scores(model, inputs["input_ids"], inputs["attention_mask"])  # (2B,)
        r_chosen, r_rejected = torch.chunk(rewards, 2)  # (B,), (B,)
        gap = r_chosen - r_rejected
        if "margin" in inputs:  # the votes' margin (Llama 2): surer pairs further apart
            gap = gap - inputs["margin"].to(gap.dtype)
        loss = -F.logsigmoid(gap).mean()
        if coefficient := self.args.center_rewards_coefficient:  # TRL's: keeps rewards near 0
            loss = loss + coefficient * ((r_chosen + r_rejected) ** 2).mean()
        with torch.no_grad():  # averaged by RewardTrainer.log
            self._metrics[mode]["accuracy"].append((r_chosen > r_rejected).float().mean().item())
            self._metrics[mode]["margin"].append((r_chosen - r_rejected).mean().item())
            self._metrics[mode]["mean_reward"].append(rewards.mean().item())
        return (loss, {"rewards": rewards}) if return_outputs else loss


def reward_config(config: RmConfig, run: RunFolder, evaluate: bool) -> RewardConfig:
    return RewardConfig(
        output_dir=str(run.checkpoints),
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        max_grad_norm=config.max_grad_norm,
        max_length=None,  # truncated already, keeping the end as scoring does (TRL would drop rows)
        center_rewards_coefficient=config.center_rewards_coefficient or None,
        logging_steps=config.logging_steps,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=config.eval_steps if evaluate else None,
        prediction_loss_only=True,  # eval metrics come from compute_loss, no logits gathered
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        report_to=config.report_to,
        use_cpu=not torch.cuda.is_available(),
        bf16=use_bf16(),
        # A 135M model fits in memory; recomputing activations would cost ~20% more time.
        activation_checkpointing=False,  # (TRL turns it on by default)
        dataloader_num_workers=0,
        # Batches of similar length: chitchat rows run from ~40 to ~350 tokens (median ~115),
        # and a batch padded to its longest row wasted about half its compute.
        train_sampling_strategy="group_by_length",
        remove_unused_columns=False,  # keep "length" for the sampler; the collator ignores it
    )


def train_pairwise(
    model: Any,
    tokenizer: Any,
    run: RunFolder,
    pairs: Sequence[TrlRow],
    held_out: Sequence[TrlRow],
    config: RmConfig,
    minutes: float,
) -> tuple[int, bool]:
    """Train `model` in place, resuming from the run's newest checkpoint if there is one,
    for at most `minutes` (0: no limit). Returns (the last step, stopped by the budget?)."""
    evaluate = config.eval_steps > 0 and bool(held_out)
    trainer = LastTokenRewardTrainer(
        model=model,
        args=reward_config(config, run, evaluate),
        train_dataset=tokenized_pairs(tokenizer, pairs, config.max_length, config.margin_weights),
        eval_dataset=tokenized_pairs(tokenizer, held_out, config.max_length, config.margin_weights)
        if evaluate
        else None,
        processing_class=tokenizer,
        callbacks=[RunLog(run)],
    )
    into_run_folder(trainer, run)
    budget = TimeBudget(minutes, trainer.accelerator)
    trainer.add_callback(budget)
    trainer.train(resume_from_checkpoint=resume_from(run))
    state = trainer.state
    return state.global_step, budget.stopped_early and state.global_step < state.max_steps
