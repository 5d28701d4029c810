"""The generation engine: chat messages in, a reply out, with the model loaded once.

The decoding loop is ours (a KV cache and one forward pass a token) rather than
`model.generate`, whose per-call set-up costs more than a tiny model's whole reply.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
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
    batch: int = 1  # how many replies were generated together with this one
    token_ids: tuple[int, ...] = ()  # the reply's tokens, stop token excluded


def pick_tokens(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> list[int]:
    """Each row's next token: greedy at temperature 0, else nucleus sampling, all rows in
    one go. logits: (B, V)"""
    if temperature <= 0:
        return [int(t) for t in logits.argmax(-1).tolist()]
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        # keep the smallest set whose mass reaches top_p (always at least the top token)
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= top_p
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    picked = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return [int(t) for t in picked.tolist()]


# Texts whose token counts an engine remembers (the recent history of busy chats).
COUNTED_TEXTS = 8192


class Engine:
    """One per worker process; holds the model and tokenizer."""

    def __init__(self, model: Any, tokenizer: Any, version: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.version = version
        self.device = next(model.parameters()).device
        eos = {tokenizer.eos_token_id, *_as_list(model.generation_config.eos_token_id)}
        self.stop_ids = frozenset(i for i in eos if i is not None)
        pad = tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else min(self.stop_ids, default=0)
        # Only the last position's logits are used: a model that can skip the others saves a
        # (prompt length x vocabulary) matrix on every prompt.
        takes = inspect.signature(model.forward).parameters
        self._last_logits = {"logits_to_keep": 1} if "logits_to_keep" in takes else {}
        # A conversation's history is counted again for every new message: remember texts.
        self._count_text = lru_cache(maxsize=COUNTED_TEXTS)(self._tokens_in)

    def count_tokens(self, message: ChatMessage) -> int:
        return self._count_text(message["content"])

    def _tokens_in(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def encode(self, messages: Sequence[ChatMessage]) -> list[int]:
        ids = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=False
        )
        return list(ids)

    def _encode_within(
        self, messages: Sequence[ChatMessage], budget: int
    ) -> tuple[list[int], bool]:
        """Token ids of the prompt, cut to its newest `budget` tokens (generation prompt
        included) when it is longer; and whether it was cut."""
        ids = self.encode(messages)
        if len(ids) > budget:
            return ids[-budget:], True
        return ids, False

    def generate(
        self, messages: Sequence[ChatMessage], settings: GenerationSettings, seed: int | None = None
    ) -> Generation:
        return self.generate_batch([messages], settings, seed)[0]

    @torch.inference_mode()
    def generate_batch(
        self,
        prompts: Sequence[Sequence[ChatMessage]],
        settings: GenerationSettings,
        seed: int | None = None,
        watch: Mapping[int, Callable[[str], None]] | None = None,
        watch_every_s: float = 0.3,
    ) -> list[Generation]:
        """Replies to several prompts in one padded batch: one forward pass a step for all.

        Prompts are left-padded, so every row's next token sits in the last column; the
        attention mask hides the padding and position ids count real tokens only, so each
        row gets the reply it would get alone. `watch` maps rows to callbacks that get the
        row's text so far, at most every `watch_every_s` while it grows (a live reply).
        """
        started = time.perf_counter()
        encoded = [self._encode_within(p, settings.context_token_budget) for p in prompts]
        rows, width = len(encoded), max(len(ids) for ids, _ in encoded)
        padded = any(len(ids) < width for ids, _ in encoded)
        input_ids = torch.full((rows, width), self.pad_id, dtype=torch.long)  # (B, T)
        mask = torch.zeros((rows, width), dtype=torch.long)  # (B, T)
        for row, (ids, _) in enumerate(encoded):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            mask[row, width - len(ids) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, T)
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(seed)
        out = self._forward(input_ids, mask, positions, None, padded)
        new: list[list[int]] = [[] for _ in range(rows)]
        done = [False] * rows
        shown = {row: "" for row in watch or {}}  # row -> the text it was last shown
        next_show = time.perf_counter() + watch_every_s
        for step in range(settings.max_new_tokens):
            if watch and time.perf_counter() >= next_show:
                self._show(watch, new, shown)
                next_show = time.perf_counter() + watch_every_s
            logits = out.logits[:, -1]  # (B, V)
            picked = pick_tokens(logits, settings.temperature, settings.top_p, generator)
            chosen = [self.pad_id] * rows  # finished rows are fed padding, and ignored
            for row, token in enumerate(picked):
                if done[row]:
                    continue
                if token in self.stop_ids:
                    done[row] = True
                else:
                    new[row].append(token)
                    chosen[row] = token
            if all(done) or step + 1 == settings.max_new_tokens:
                break
            step_ids = torch.tensor(chosen, dtype=torch.long).unsqueeze(1)  # (B, 1)
            mask = torch.cat([mask, torch.ones((rows, 1), dtype=torch.long)], dim=1)
            positions = positions[:, -1:] + 1  # (B, 1)
            out = self._forward(step_ids, mask, positions, out.cache, padded)
        seconds = time.perf_counter() - started
        return [
            Generation(
                self.tokenizer.decode(row_new, skip_special_tokens=True).strip(),
                len(ids),
                len(row_new),
                seconds,
                cut,
                rows,
                tuple(row_new),
            )
            for row_new, (ids, cut) in zip(new, encoded, strict=True)
        ]

    def _show(
        self,
        watch: Mapping[int, Callable[[str], None]],
        new: list[list[int]],
        shown: dict[int, str],
    ) -> None:
        """Tell each watched row its text so far, if it changed (a character still being
        spelled out in several tokens is left for the next time)."""
        for row, tell in watch.items():
            text = self.tokenizer.decode(new[row], skip_special_tokens=True).strip()
            text = text.rstrip("\ufffd").rstrip()
            if text != shown[row]:
                shown[row] = text
                tell(text)

    def _forward(
        self,
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        past: Any,
        padded: bool,
    ) -> Any:
        """One forward pass; without padding the mask and positions are implied (faster)."""
        if not padded:
            return self.model(
                input_ids=input_ids.to(self.device),
                cache=past,
                use_cache=True,
                **self._last_logits,
            )
        return self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            cache=past,
            use_cache=True,
            **self._last_logits,
        )


def _as_list(value: int | list[int] | None) -> list[int | None]:
    if isinstance(value, list):
        return list(value)
    return [value]
