"""KL(new model ‖ old model) along the replies the new model served in round 1.

Each reply is taken as the workers made it: the stored prompt through the chat template,
the reply's text tokenized again, plus the end-of-turn token when the reply stopped before
its token limit. The exact per-token KL over the whole vocabulary is summed over the reply
(training.evaluate.reply_kl, the figure `replyloop eval` reports)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from bench.loop.chats import Served
from training.evaluate import reply_kl
from training.models import load_policy, load_tokenizer
from training.ppo.rollout import encode_prompts, pack, stop_token_ids

BATCH = 16
MAX_PROMPT_TOKENS = 1024


def served_kl(
    policy_dir: Path, baseline_dir: Path, served: Sequence[Served], max_new_tokens: int
) -> list[float]:
    """Nats per reply, in the order of `served`."""
    tokenizer = load_tokenizer(policy_dir)
    policy = load_policy(policy_dir).eval()
    baseline = load_policy(baseline_dir).eval()
    end = tokenizer.eos_token_id
    stops = stop_token_ids(tokenizer, policy)
    kls: list[float] = []
    for start in tqdm(range(0, len(served), BATCH), desc="KL along round-1 replies", unit="batch"):
        batch = served[start : start + BATCH]
        queries = encode_prompts(tokenizer, [s.prompt for s in batch], MAX_PROMPT_TOKENS)
        replies = []
        for s in batch:
            ids = list(tokenizer(s.reply, add_special_tokens=False)["input_ids"])
            replies.append(ids + [end] if s.new_tokens < max_new_tokens or not ids else ids)
        rollout = pack(tokenizer, queries, replies, stops)
        with torch.no_grad():
            kls.extend(reply_kl(policy, baseline, rollout).tolist())
    return kls
