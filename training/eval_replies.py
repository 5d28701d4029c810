"""eval's replies: the policy's and the baseline's to each prompt, the policy's KL to the
baseline along its own replies, and the best-of-n baseline (the baseline's best of n
replies under a reward model: what a policy trained against that model should at least
match, since it costs no training; Stiennon et al. 2020 and Gao et al. 2022 compare RL
against it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from core.types import ChatMessage
from training.eval_table import BASELINE, POLICY
from training.evaluate_config import EvalConfig
from training.models import load_policy, load_scorer, load_tokenizer
from training.ppo.rollout import Rollout, sample, stop_token_ids
from training.scoring import reward_scores


@torch.no_grad()
def reply_kl(policy: Any, baseline: Any, replies: Rollout) -> torch.Tensor:
    """KL(policy || baseline) of each reply, in nats: at every token of the reply, the exact
    KL between the two next-token distributions (whole vocabulary, temperature 1), summed
    over the reply. -> (B,)"""
    given = {
        "input_ids": replies.input_ids,
        "attention_mask": replies.attention_mask,
        "position_ids": replies.position_ids,
    }
    start = replies.query_width - 1  # the distribution that predicts token t sits at t - 1
    logits_p = policy(**given).logits[:, start:-1].float()  # (B, R, V)
    logits_b = baseline(**given).logits[:, start:-1].float()  # (B, R, V)
    logp, logb = torch.log_softmax(logits_p, -1), torch.log_softmax(logits_b, -1)
    per_token = (logp.exp() * (logp - logb)).sum(-1)  # (B, R)
    return (per_token * replies.response_mask.to(per_token.dtype)).sum(-1)


def _replies(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[ChatMessage]],
    config: EvalConfig,
    generator: torch.Generator,
) -> Rollout:
    made, _, _ = sample(
        model,
        tokenizer,
        prompts,
        max_prompt_tokens=config.max_prompt_tokens,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        stop_ids=stop_token_ids(tokenizer, model),
        generator=generator,
    )
    return made


def generate(
    policy_dir: Path,
    baseline_dir: Path,
    tokenizer: Any,
    prompts: Sequence[list[ChatMessage]],
    config: EvalConfig,
    best_of: int,
) -> tuple[dict[str, list[str]], list[float], list[list[str]]]:
    """The policy's and the baseline's replies, the policy's KL to the baseline on each,
    and `best_of` more baseline replies to each prompt (the best-of-n candidates)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    policy = load_policy(policy_dir, device).eval()
    baseline = load_policy(baseline_dir, device).eval()
    replies: dict[str, list[str]] = {POLICY: [], BASELINE: []}
    kls: list[float] = []
    candidates: list[list[str]] = []
    generator = torch.Generator(device=device).manual_seed(config.seed)
    for start in tqdm(
        range(0, len(prompts), config.batch_size), desc="eval: replies and KL", unit="batch"
    ):
        batch = list(prompts[start : start + config.batch_size])
        made_a = _replies(policy, tokenizer, batch, config, generator)
        made_b = _replies(baseline, tokenizer, batch, config, generator)
        kls.extend(reply_kl(policy, baseline, made_a).tolist())
        replies[POLICY].extend(made_a.texts)
        replies[BASELINE].extend(made_b.texts)
        more = [_replies(baseline, tokenizer, batch, config, generator) for _ in range(best_of)]
        for i in range(len(batch)):
            candidates.append([made.texts[i] for made in more])
    return replies, kls, candidates


def best_under(
    reward_dir: Path, prompts: Sequence[list[ChatMessage]], candidates: list[list[str]], device: str
) -> list[str]:
    """Each prompt's candidate that the reward model in `reward_dir` scores highest."""
    scorer, scorer_tokenizer = load_scorer(reward_dir, device).eval(), load_tokenizer(reward_dir)
    n = len(candidates[0])
    flat = [reply for replies in candidates for reply in replies]
    scored = reward_scores(
        scorer, scorer_tokenizer, [p for p in prompts for _ in range(n)], flat, progress="best-of-n"
    )
    return [
        max(zip(scored[i * n : (i + 1) * n], replies, strict=True))[1]
        for i, replies in enumerate(candidates)
    ]
