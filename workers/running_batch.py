"""`RunningBatch`: the rows being decoded together, which others join and leave between steps;
with the KV cache layer it keeps (`GrowingLayer`) and `AttentionShape`, what a model's config
says its attention looks like (which sizes the cache and its cost).

Each row is one request's sequence. All rows share one KV cache tensor per layer, left
padded: a row's tokens sit at the right end of its row, so every row's newest token is in
the last column and one forward pass of shape (B, 1) advances them all. The attention mask
hides each row's padding and position ids count its real tokens only, so a row gets the
tokens it would get alone (tests/unit/test_running_batch.py).

Joining: the new prompts are prefilled in a forward pass of their own (left padded among
themselves), then their caches are padded on the left to the batch's width (or the batch's
to theirs) and stacked under the batch's. Leaving: the rows that stay are selected, and
the leading columns that are padding in every remaining row are cut off, so a long row
that left no longer costs the others its width.

The alternative, a paged cache, wastes no padding but needs attention kernels that read
pages; transformers' models take a contiguous cache. bench/generation prints the share
of cache columns that are padding, so the cost of this choice is measured, not guessed.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

# Columns a layer's cache holds beyond its tokens, so that steps write in place; it grows by
# doubling. (transformers' DynamicLayer concatenates a step's keys onto all before them: a
# copy of the whole cache every step, 15% of a 16-row step on CPU.)
HEADROOM = 64


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose keys and values are views of a buffer with room to grow."""

    _keys: torch.Tensor  # (B, H, room, D)
    _values: torch.Tensor
    used = 0  # columns holding states

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.set(key_states, value_states)
            return self.states()
        new = key_states.shape[2]
        if self.used + new > self._keys.shape[2]:
            self._keys = _with_room(self._keys[:, :, : self.used], 2 * (self.used + new))
            self._values = _with_room(self._values[:, :, : self.used], 2 * (self.used + new))
        self._keys[:, :, self.used : self.used + new] = key_states
        self._values[:, :, self.used : self.used + new] = value_states
        self._show(self.used + new)
        return self.states()

    def set(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Hold exactly these keys and values (B, H, T, D), with room for more."""
        self.is_initialized = True
        self._keys = _with_room(keys, keys.shape[2] + HEADROOM)
        self._values = _with_room(values, values.shape[2] + HEADROOM)
        self._show(keys.shape[2])

    def states(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(keys, values), each (B, H, T, D)."""
        return self._keys[:, :, : self.used], self._values[:, :, : self.used]

    def _show(self, used: int) -> None:
        self.used = used
        self.keys, self.values = self.states()


def _with_room(states: torch.Tensor, room: int) -> torch.Tensor:
    """A (B, H, room, D) buffer starting with `states` (B, H, T, D)."""
    shape = (states.shape[0], states.shape[1], room, states.shape[3])
    buffer = states.new_empty(shape)
    buffer[:, :, : states.shape[2]] = states
    return buffer


def new_cache() -> DynamicCache:
    cache = DynamicCache()
    cache.layer_class_to_replicate = GrowingLayer
    return cache


class RunningBatch:
    """Tensors in, tensors out; which request a row is, and when it is done, is the
    decoder's business (workers.decoder)."""

    def __init__(self, model: Any, pad_id: int) -> None:
        self.model = model
        self.pad_id = pad_id
        self.device = next(model.parameters()).device
        self.cache: DynamicCache | None = None
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=self.device)  # (B, W)
        self.positions = torch.zeros((0,), dtype=torch.long, device=self.device)  # (B,) next
        # Each row's tokens (its next position), kept on the host: how much is padding, and
        # where, is known without reading the mask back from the device.
        self.lengths: list[int] = []
        # Only the last position's logits are used: a model that can skip the others saves a
        # (prompt length x vocabulary) matrix on every prompt.
        takes = inspect.signature(model.forward).parameters
        self._last_logits = {"logits_to_keep": 1} if "logits_to_keep" in takes else {}
        # Packing prompts needs logits at chosen positions (a tensor logits_to_keep).
        self._packs = "logits_to_keep" in takes
        self._token_flops, self._pair_flops = _flops(model)

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    def padding(self) -> int:
        """Cache columns that hold no token, summed over rows (the price of left padding)."""
        return self.rows * self.width - sum(self.lengths)

    @property
    def padded(self) -> bool:
        """Some row has padding: the mask and positions must be passed."""
        return any(n < self.width for n in self.lengths)

    def join(self, prompts: Sequence[Sequence[int]]) -> torch.Tensor:
        """Prefill `prompts` and add them as the last rows; their next-token logits (n, V)."""
        assert prompts and all(prompts), "every prompt needs at least one token"
        width = max(len(ids) for ids in prompts)
        uneven = any(len(ids) < width for ids in prompts)
        if uneven and self._packs and self._packing_pays(prompts):
            logits, cache = self._prefill_packed(prompts)
        else:
            logits, cache = self._prefill_padded(prompts)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)  # (n, P)
        for row, ids in enumerate(prompts):
            mask[row, width - len(ids) :] = 1
        lengths = torch.tensor([len(ids) for ids in prompts], device=self.device)
        self._stack(cache, mask.to(self.device), lengths)
        self.lengths.extend(len(ids) for ids in prompts)
        return logits

    def _packing_pays(self, prompts: Sequence[Sequence[int]]) -> bool:
        """Packed, no padding is computed, but attention runs over all the prompts at once
        (a dense mask: without varlen kernels the block-diagonal pairs still cost), which on
        a small model or many prompts costs more than the padding saves."""
        lengths = [len(ids) for ids in prompts]
        total, width = sum(lengths), max(lengths)
        padded = len(lengths) * (width * self._token_flops + width * width * self._pair_flops)
        packed = total * self._token_flops + total * total * self._pair_flops
        return packed < 0.9 * padded

    def _prefill_padded(
        self, prompts: Sequence[Sequence[int]]
    ) -> tuple[torch.Tensor, DynamicCache]:
        """All prompts as rows of one left-padded batch."""
        rows, width = len(prompts), max(len(ids) for ids in prompts)
        input_ids = torch.full((rows, width), self.pad_id, dtype=torch.long)  # (n, P)
        mask = torch.zeros((rows, width), dtype=torch.long)  # (n, P)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(list(ids))
            mask[row, width - len(ids) :] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (n, P)
        cache = new_cache()
        uneven = any(len(ids) < width for ids in prompts)
        out = self._forward(input_ids, mask, positions, cache, uneven)
        return out.logits[:, -1], cache  # (n, V)

    def _prefill_packed(
        self, prompts: Sequence[Sequence[int]]
    ) -> tuple[torch.Tensor, DynamicCache]:
        """All prompts one after another in one row, each attending to itself only (a
        block-diagonal causal mask): no padding is computed, which on prompts of mixed
        lengths saves a third of the prefill. The cache is then cut into left-padded rows."""
        lengths = [len(ids) for ids in prompts]
        total, width = sum(lengths), max(lengths)
        device = self.device
        input_ids = torch.tensor([t for ids in prompts for t in ids], device=device)[None]
        positions = torch.cat([torch.arange(n, device=device) for n in lengths])[None]  # (1, L)
        owner = torch.repeat_interleave(
            torch.arange(len(prompts), device=device), torch.tensor(lengths, device=device)
        )  # (L,): which prompt each token is
        at = torch.arange(total, device=device)
        allowed = (owner[:, None] == owner[None, :]) & (at[:, None] >= at[None, :])  # (L, L)
        ends = torch.tensor(lengths, device=device).cumsum(0) - 1  # each prompt's last token
        packed = new_cache()
        out = self.model(
            input_ids=input_ids,
            attention_mask=allowed[None, None],  # (1, 1, L, L)
            position_ids=positions,
            cache=packed,
            use_cache=True,
            logits_to_keep=ends,
        )
        cache = new_cache()
        # Where each row's column comes from in the packed sequence: its padding points at
        # position L, a column of zeros appended; one gather a layer cuts all rows out.
        source = torch.full((len(prompts), width), total, dtype=torch.long)  # (n, P)
        start = 0
        for row, n in enumerate(lengths):
            source[row, width - n :] = torch.arange(start, start + n)
            start += n
        source = source.to(device).flatten()  # (n * P,)
        for layer in _layers(packed):
            keys, values = layer.states()  # (1, H, L, D)
            row_layer = GrowingLayer()
            row_layer.set(_rows_of(keys, source, width), _rows_of(values, source, width))
            cache.layers.append(row_layer)
        return out.logits[0], cache  # (n, V)

    def step(self, tokens: Sequence[int]) -> torch.Tensor:
        """Feed each row its next token; the logits for the one after (B, V)."""
        assert len(tokens) == self.rows and self.cache is not None
        step_ids = torch.tensor(list(tokens), dtype=torch.long, device=self.device)[:, None]
        ones = torch.ones((self.rows, 1), dtype=torch.long, device=self.device)
        self.mask = torch.cat([self.mask, ones], dim=1)  # (B, W + 1)
        out = self._forward(step_ids, self.mask, self.positions[:, None], self.cache, self.padded)
        self.positions = self.positions + 1
        self.lengths = [n + 1 for n in self.lengths]
        return out.logits[:, -1]  # (B, V)

    def keep(self, rows: Sequence[int]) -> None:
        """Only `rows` (in this order) stay; the others' cache is freed."""
        if len(rows) == self.rows and list(rows) == list(range(self.rows)):
            return
        if not rows:
            self.cache = None
            self.mask = self.mask[:0, :0]
            self.positions = self.positions[:0]
            self.lengths = []
            return
        index = torch.tensor(list(rows), dtype=torch.long, device=self.device)
        self.lengths = [self.lengths[i] for i in rows]
        cut = self.width - max(self.lengths)  # leading columns that are padding in every row
        self.mask = self.mask.index_select(0, index)[:, cut:]
        self.positions = self.positions.index_select(0, index)
        assert self.cache is not None
        for layer in _layers(self.cache):
            keys, values = layer.states()
            layer.set(  # (B', H, W', D)
                keys.index_select(0, index)[:, :, cut:], values.index_select(0, index)[:, :, cut:]
            )

    def _stack(self, cache: DynamicCache, mask: torch.Tensor, positions: torch.Tensor) -> None:
        """Put the new rows' cache under the batch's, both padded on the left to one width."""
        if self.cache is None or self.rows == 0:
            self.cache, self.mask, self.positions = cache, mask, positions
            return
        width = max(self.width, int(mask.shape[1]))
        for mine, theirs in zip(_layers(self.cache), _layers(cache), strict=True):
            (my_keys, my_values), (their_keys, their_values) = mine.states(), theirs.states()
            mine.set(
                torch.cat([_left_pad(my_keys, width), _left_pad(their_keys, width)]),
                torch.cat([_left_pad(my_values, width), _left_pad(their_values, width)]),
            )
        self.mask = torch.cat([_left_pad_mask(self.mask, width), _left_pad_mask(mask, width)])
        self.positions = torch.cat([self.positions, positions])

    def _forward(
        self,
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: Any,
        padded: bool,
    ) -> Any:
        """One forward pass; without padding the mask and positions are implied (faster)."""
        if not padded:
            return self.model(input_ids=input_ids, cache=cache, use_cache=True, **self._last_logits)
        return self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            cache=cache,
            use_cache=True,
            **self._last_logits,
        )


def _layers(cache: DynamicCache) -> list[GrowingLayer]:
    """The cache's layers, each holding `keys` and `values` of shape (B, H, T, D)."""
    layers = list(cache.layers)
    assert all(isinstance(layer, GrowingLayer) for layer in layers)
    return layers  # type: ignore[return-value]


@dataclass(frozen=True)
class AttentionShape:
    """What a model's attention looks like, as its config says."""

    layers: int
    heads: int
    kv_heads: int
    head_dim: int

    @classmethod
    def of(cls, model: Any) -> AttentionShape:
        config = model.config
        config = getattr(config, "text_config", None) or config
        heads = config.num_attention_heads
        return cls(
            config.num_hidden_layers,
            heads,
            getattr(config, "num_key_value_heads", None) or heads,
            getattr(config, "head_dim", None) or config.hidden_size // heads,
        )


def _flops(model: Any) -> tuple[float, float]:
    """About what a layer costs: multiply-adds a token (its weights, twice), and a query-key
    pair (scores and weighted values, over all heads)."""
    shape = AttentionShape.of(model)
    embedded = sum(p.numel() for p in model.get_input_embeddings().parameters())
    per_layer = (sum(p.numel() for p in model.parameters()) - embedded) / shape.layers
    return 2.0 * per_layer, 4.0 * shape.heads * shape.head_dim


def _rows_of(packed: torch.Tensor, source: torch.Tensor, width: int) -> torch.Tensor:
    """(1, H, L, D) packed states -> (n, H, width, D) left-padded rows; `source` (n * width,)
    holds each row column's packed position, L for padding."""
    heads, dim = packed.shape[1], packed.shape[3]
    zeros = packed.new_zeros((1, heads, 1, dim))
    rows = torch.cat([packed, zeros], dim=2)[0].index_select(1, source)  # (H, n * P, D)
    return rows.view(heads, -1, width, dim).transpose(0, 1)  # (n, H, P, D)


def _left_pad(states: torch.Tensor, width: int) -> torch.Tensor:
    """(B, H, T, D) -> (B, H, width, D), zeros on the left (masked out)."""
    missing = width - states.shape[2]
    if missing == 0:
        return states
    shape = (states.shape[0], states.shape[1], missing, states.shape[3])
    return torch.cat([states.new_zeros(shape), states], dim=2)


def _left_pad_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    missing = width - mask.shape[1]
    if missing == 0:
        return mask
    return torch.cat([mask.new_zeros((mask.shape[0], missing)), mask], dim=1)
