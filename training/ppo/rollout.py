"""Rollouts: replies sampled from the policy for a batch of chat prompts, and the
log-probabilities a model gives those replies.

A rollout batch is laid out as `[left-padded query | right-padded response]`, so every
response starts at the same column P and per-token tensors over the response are (B, R).
Ends are found from masks, never from the pad id: in SmolLM2 the pad token is the
end-of-turn token, which is also the reply's last real token.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core.types import ChatMessage
from training.ppo.core import entropy_from_logits, logprobs_from_logits
from training.prompt_fit import fit_prompt, templated_ids


@dataclass(frozen=True)
class Rollout:
    input_ids: torch.Tensor  # (B, P + R) query left-padded, response right-padded
    attention_mask: torch.Tensor  # (B, P + R) 0 on both paddings
    response_mask: torch.Tensor  # (B, R) 1 on response tokens through the first end-of-turn
    query_width: int  # P: the response's first column
    texts: list[str]  # the decoded replies, end-of-turn and padding left out
    ended: torch.Tensor  # (B,) bool: the reply ended with end-of-turn (not at the limit)

    def __post_init__(self) -> None:
        rows, width = self.input_ids.shape
        assert self.attention_mask.shape == (rows, width)
        assert self.response_mask.shape == (rows, width - self.query_width)
        assert len(self.texts) == rows and self.ended.shape == (rows,)

    @property
    def responses(self) -> torch.Tensor:
        return self.input_ids[:, self.query_width :]  # (B, R)

    @property
    def position_ids(self) -> torch.Tensor:
        """Each token's position counting real tokens only (left padding shifts nothing)."""
        return (self.attention_mask.cumsum(-1) - 1).clamp(min=0)  # (B, P + R)

    def select(self, rows: torch.Tensor) -> Rollout:
        """The given rows, without the padding columns they all share."""
        query_mask = self.attention_mask[rows, : self.query_width]  # (b, P)
        cut = int((query_mask == 0).sum(-1).min())  # left padding common to all rows
        kept = int(self.response_mask[rows].sum(-1).max())  # longest response
        end = self.query_width + kept
        return Rollout(
            input_ids=self.input_ids[rows, cut:end],
            attention_mask=self.attention_mask[rows, cut:end],
            response_mask=self.response_mask[rows, :kept],
            query_width=self.query_width - cut,
            texts=[self.texts[int(i)] for i in rows],
            ended=self.ended[rows],
        )


def encode_prompts(
    tokenizer: Any, prompts: Sequence[Sequence[ChatMessage]], max_tokens: int
) -> list[list[int]]:
    """Each prompt through the chat template with the assistant's opening, in at most
    `max_tokens` tokens: a long conversation loses its oldest turns, never its system
    block or its question (training.prompt_fit)."""
    encoded = []
    for prompt in prompts:
        ids = templated_ids(tokenizer, fit_prompt(tokenizer, prompt, max_tokens))
        assert len(ids) <= max_tokens
        encoded.append(ids)
    return encoded


def pack(
    tokenizer: Any,
    queries: Sequence[Sequence[int]],
    responses: Sequence[Sequence[int]],
    stop_ids: Collection[int],
    device: str | torch.device = "cpu",
) -> Rollout:
    """Token lists into a rollout batch. A response runs through its first stop token;
    anything after it is dropped."""
    assert len(queries) == len(responses) and all(queries) and all(responses)
    cut = []
    for response in responses:
        stops = [i for i, token in enumerate(response) if token in stop_ids]
        cut.append(list(response[: stops[0] + 1]) if stops else list(response))
    rows, query_width, response_width = len(queries), max(map(len, queries)), max(map(len, cut))
    pad = tokenizer.pad_token_id
    input_ids = torch.full((rows, query_width + response_width), pad, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)  # (B, P + R)
    for row, (query, response) in enumerate(zip(queries, cut, strict=True)):
        input_ids[row, query_width - len(query) : query_width] = torch.tensor(query)
        input_ids[row, query_width : query_width + len(response)] = torch.tensor(response)
        attention_mask[row, query_width - len(query) : query_width + len(response)] = 1
    ended = torch.tensor([response[-1] in stop_ids for response in cut])
    texts = [
        tokenizer.decode(response[:-1] if done else response, skip_special_tokens=True).strip()
        for response, done in zip(cut, ended.tolist(), strict=True)
    ]
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    return Rollout(
        input_ids,
        attention_mask,
        attention_mask[:, query_width:],
        query_width,
        texts,
        ended.to(device),
    )


def stop_token_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    """End-of-turn ids: the tokenizer's eos and whatever the model's generation config adds."""
    configured = model.generation_config.eos_token_id
    ids = {tokenizer.eos_token_id, *(configured if isinstance(configured, list) else [configured])}
    return frozenset(i for i in ids if i is not None)


def _pick(
    logits: torch.Tensor, top_k: int, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """One sampled token a row, from logits already divided by the temperature.
    (B, V) -> (B,)"""
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        # keep the smallest set whose mass reaches top_p (always the likeliest token)
        sorted_probs[torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= top_p] = 0.0
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def sample(
    policy: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[ChatMessage]],
    *,
    max_prompt_tokens: int,
    max_new_tokens: int,
    temperature: float,
    top_k: int = 0,
    top_p: float = 1.0,
    stop_ids: Collection[int],
    generator: torch.Generator | None = None,
) -> tuple[Rollout, torch.Tensor, torch.Tensor]:
    """Replies to all prompts in one batch: one forward pass a token with a KV cache.

    Returns the rollout, the sampled tokens' log-probabilities under the policy's
    temperature-scaled distribution (before top-k/top-p, as TRL's PPO scored them) and the
    entropy of that distribution, both (B, R) and 0 after each reply's end. Sampling sees
    the same logits a full forward pass would, so these serve as PPO's "old" log-probs
    and save a pass over the batch (TRL's PPOv2 did the same with generate()'s logits).
    """
    device = next(policy.parameters()).device
    queries = encode_prompts(tokenizer, prompts, max_prompt_tokens)
    rows, width = len(queries), max(map(len, queries))
    input_ids = torch.full((rows, width), tokenizer.pad_token_id, dtype=torch.long)  # (B, P)
    mask = torch.zeros((rows, width), dtype=torch.long)  # (B, P)
    for row, ids in enumerate(queries):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        mask[row, width - len(ids) :] = 1
    input_ids, mask = input_ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, P)
    stops = torch.tensor(sorted(stop_ids), device=device)
    done = torch.zeros(rows, dtype=torch.bool, device=device)  # (B,)
    tokens, alive, logprobs, entropies = [], [], [], []
    step_ids, past = input_ids, None
    for _ in range(max_new_tokens):
        out = policy(
            input_ids=step_ids,
            attention_mask=mask,
            position_ids=positions,
            cache=past,
            use_cache=True,
            logits_to_keep=1,
        )
        logits = out.logits[:, -1].float() / temperature  # (B, V)
        token = _pick(logits, top_k, top_p, generator)  # (B,)
        token = token.masked_fill(done, tokenizer.pad_token_id)  # finished rows get padding
        tokens.append(token)
        alive.append(~done)
        logprobs.append(logprobs_from_logits(logits, token))
        entropies.append(entropy_from_logits(logits))
        done = done | torch.isin(token, stops)
        if bool(done.all()):
            break
        step_ids, past = token.unsqueeze(1), out.cache  # (B, 1)
        mask = torch.cat([mask, alive[-1].long().unsqueeze(1)], dim=1)  # padding stays unseen
        positions = positions[:, -1:] + 1  # (B, 1)
    response_mask = torch.stack(alive, dim=1)  # (B, R)
    responses = torch.stack(tokens, dim=1).cpu()  # (B, R)
    kept = [row[keep].tolist() for row, keep in zip(responses, response_mask.cpu(), strict=True)]
    rollout = pack(tokenizer, queries, kept, stop_ids, device)
    assert torch.equal(rollout.response_mask.bool(), response_mask)
    keep = response_mask.float()
    return rollout, torch.stack(logprobs, dim=1) * keep, torch.stack(entropies, dim=1) * keep


def response_logprobs(model: Any, rollout: Rollout, temperature: float) -> torch.Tensor:
    """log p(response token) for each response token, in one forward pass; only the
    response's logits are computed. -> (B, R), 0 after each reply's end."""
    width = rollout.response_mask.shape[1]
    out = model(
        input_ids=rollout.input_ids,
        attention_mask=rollout.attention_mask,
        position_ids=rollout.position_ids,
        use_cache=False,
        logits_to_keep=width + 1,
    )
    # the logits at column t predict the token at t + 1: drop the one after the last
    logits = out.logits[:, :-1].float() / temperature  # (B, R, V)
    return logprobs_from_logits(logits, rollout.responses) * rollout.response_mask
