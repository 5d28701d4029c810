"""The generation engine: chat messages in, a reply out, with the model loaded once.

The decoding loop is ours (a KV cache and one forward pass a token) rather than
`model.generate`, whose per-call set-up costs more than a tiny model's whole reply.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core.types import ChatMessage, GenerationSettings


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float
    prompt_cut: bool  # the prompt alone exceeded the budget and lost its oldest tokens


def pick_token(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> int:
    """Greedy at temperature 0, else nucleus sampling. logits: (V,)"""
    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # keep the smallest set whose mass reaches top_p (always at least the top token)
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= top_p
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


class Engine:
    """One per worker process; holds the model and tokenizer."""

    def __init__(self, model: Any, tokenizer: Any, version: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.version = version
        self.device = next(model.parameters()).device
        eos = {tokenizer.eos_token_id, *_as_list(model.generation_config.eos_token_id)}
        self.stop_ids = frozenset(i for i in eos if i is not None)

    def count_tokens(self, message: ChatMessage) -> int:
        return len(self.tokenizer.encode(message["content"], add_special_tokens=False))

    def encode(self, messages: Sequence[ChatMessage]) -> list[int]:
        ids = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=False
        )
        return list(ids)

    @torch.inference_mode()
    def generate(
        self, messages: Sequence[ChatMessage], settings: GenerationSettings, seed: int | None = None
    ) -> Generation:
        started = time.perf_counter()
        ids = self.encode(messages)
        budget = settings.context_token_budget
        cut = len(ids) > budget
        if cut:
            ids = ids[-budget:]  # the newest tokens, generation prompt included
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(seed)
        input_ids = torch.tensor([ids], device=self.device)  # (1, T)
        out = self.model(input_ids=input_ids, use_cache=True)
        new: list[int] = []
        for step in range(settings.max_new_tokens):
            token = pick_token(out.logits[0, -1], settings.temperature, settings.top_p, generator)
            if token in self.stop_ids:
                break
            new.append(token)
            if step + 1 == settings.max_new_tokens:
                break
            step_ids = torch.tensor([[token]], device=self.device)  # (1, 1)
            out = self.model(
                input_ids=step_ids, past_key_values=out.past_key_values, use_cache=True
            )
        text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        return Generation(text, len(ids), len(new), time.perf_counter() - started, cut)


def _as_list(value: int | list[int] | None) -> list[int | None]:
    if isinstance(value, list):
        return list(value)
    return [value]
