"""The generation engine: chat messages in, a reply out, with the model loaded once.

The decoding loop is ours (a KV cache and one forward pass a token) rather than
`model.generate`, whose per-call set-up costs more than a tiny model's whole reply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import torch

from core.text import storable
from core.types import ChatMessage, GenerationSettings
from workers.decoder import Decoder, DecodingRow, generation_of
from workers.generation import Generation
from workers.running_batch import AttentionShape

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

    def decode(self, token_ids: Sequence[int]) -> str:
        """The text of `token_ids`, as it is stored (no NUL: a random model says them), so
        a reply shown while it grows is a prefix of the stored one."""
        text = str(self.tokenizer.decode(list(token_ids), skip_special_tokens=True))
        return storable(text).strip()

    def kv_bytes_per_token(self) -> int:
        """Bytes of KV cache one token of one sequence takes (keys and values, all layers)."""
        shape = AttentionShape.of(self.model)
        size = next(self.model.parameters()).element_size()
        return 2 * shape.layers * shape.kv_heads * shape.head_dim * size

    def row(
        self,
        messages: Sequence[ChatMessage],
        settings: GenerationSettings,
        on_text: Callable[[str], None] | None = None,
        generator: torch.Generator | None = None,
    ) -> DecodingRow:
        """A request ready to join a running batch (workers.decoder)."""
        ids, cut = self._encode_within(messages, settings.context_token_budget)
        row = DecodingRow(ids, settings, messages, cut, on_text, generator)
        if settings.max_seconds is not None:
            row.deadline = row.submitted + settings.max_seconds
        return row

    @torch.inference_mode()
    def generate_batch(
        self,
        prompts: Sequence[Sequence[ChatMessage]],
        settings: GenerationSettings,
        seed: int | None = None,
        watch: Mapping[int, Callable[[str], None]] | None = None,
        watch_every_s: float = 0.3,
    ) -> list[Generation]:
        """Replies to several prompts decoded together: one forward pass a step for all.

        Each row gets the reply it would get alone (workers.running_batch); a row that is done
        leaves the batch at once. `watch` maps rows to callbacks that get the row's text so
        far, at most every `watch_every_s` while it grows (a live reply).
        """
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(seed)
        watch = watch or {}
        rows = [
            self.row(p, settings, watch.get(index), generator) for index, p in enumerate(prompts)
        ]
        decoder = Decoder(self, watch_every_s)
        decoder.join(rows)
        while decoder.rows:
            decoder.advance()
        return [generation_of(self, row) for row in rows]


def _as_list(value: int | list[int] | None) -> list[int | None]:
    if isinstance(value, list):
        return list(value)
    return [value]
