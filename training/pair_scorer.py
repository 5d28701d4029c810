"""A reward model that reads a conversation as two sentences: the context and the reply, each
embedded by a sentence encoder (mean-pooled and normalised, as sentence-transformers does
for all-MiniLM-L6-v2), scored by a linear head on their interaction:

    u = embed(context), v = embed(reply)           (H,) each, unit length
    b = one-hot bin of the reply's length           (len(LENGTH_EDGES) + 1,)
    score = head([u * v, |u - v|, v, b]) + bias     (3H + bins,) -> ()

The head starts as `COSINE_SCALE * cos(u, v)`: the weights on u * v all COSINE_SCALE, the
rest 0. So before any training it is the encoder's own zero-shot relevance, and training
adds what votes say about the reply itself (its `v` part and its length) and sharpens the
rest. A mean-pooled embedding hardly shows how long a reply is, and people's votes often
depend on it (both ways: too short, too long), so the length is given as bins, each with
a weight of its own, not as one number that could only say "longer is better" or the
opposite. With the encoder frozen (`train rm --freeze-layers 6`), only the head learns.

It takes the same rows as every other reward model (training.scoring's encode_scored):
`[CLS] context [SEP] assistant: reply [SEP]`, the inner [SEP] put there by the encoder's
chat template (training.encoder.CHAT_TEMPLATE). Each row is cut at its last inner [SEP]:
the tokens before are the context, those after the reply; a row cut so short that it lost
that [SEP] is read as all reply. A reply that itself says "[SEP]" is cut there too.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

COSINE_SCALE = 5.0
# Upper bounds of the reply-length bins, in the encoder's tokens (with "assistant:").
LENGTH_EDGES = (6, 10, 14, 18, 24, 32, 44)


class BertPairScorer(BertPreTrainedModel):
    """The pair scorer; a prepared encoder's config names it (training.encoder.ARCHITECTURE)."""

    config_class = BertConfig
    base_model_prefix = "bert"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.head = nn.Linear(3 * config.hidden_size + len(LENGTH_EDGES) + 1, 1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is getattr(self, "head", None):
            hidden = self.config.hidden_size
            with torch.no_grad():
                module.weight.zero_()
                module.weight[0, :hidden] = COSINE_SCALE  # u * v sums to the cosine
                module.bias.zero_()
            return
        super()._init_weights(module)

    def embed(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """Token-id rows (each [CLS] ... [SEP]) -> (N, H) unit-length mean-pooled embeddings."""
        width = max(len(row) for row in rows)
        device = self.head.weight.device
        ids = torch.full((len(rows), width), self.config.pad_token_id or 0, device=device)
        mask = torch.zeros((len(rows), width), dtype=torch.long, device=device)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state  # (N, T, H)
        weights = mask.unsqueeze(-1).to(hidden.dtype)  # (N, T, 1)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)  # (N, H)
        return nn.functional.normalize(pooled, dim=-1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> SequenceClassifierOutput:
        """(B, T) rows as encode_scored writes them -> logits (B, 1)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        contexts, replies = [], []
        for row, mask in zip(input_ids, attention_mask, strict=True):
            context, reply = split_row(row[mask.bool()], self.config.sep_token_id)
            contexts.append(context)
            replies.append(reply)
        u, v = self.embed(contexts), self.embed(replies)  # (B, H) each
        lengths = torch.tensor([len(r) - 2 for r in replies], device=u.device)  # (B,)
        edges = torch.tensor(LENGTH_EDGES, device=u.device)
        bins = nn.functional.one_hot(torch.bucketize(lengths, edges), len(LENGTH_EDGES) + 1).to(
            u.dtype
        )  # (B, bins)
        features = torch.cat([u * v, (u - v).abs(), v, bins], dim=-1)  # (B, 3H + bins)
        return SequenceClassifierOutput(logits=self.head(features))  # (B, 1)


def split_row(row: torch.Tensor, sep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS] context [SEP] reply [SEP] -> ([CLS] context [SEP], [CLS] reply [SEP]); with no
    inner [SEP], ([CLS] [SEP], the row).

    >>> [t.tolist() for t in split_row(torch.tensor([101, 7, 8, 102, 9, 102]), 102)]
    [[101, 7, 8, 102], [101, 9, 102]]
    >>> [t.tolist() for t in split_row(torch.tensor([101, 9, 102]), 102)]
    [[101, 102], [101, 9, 102]]
    """
    seps = (row[1:-1] == sep).nonzero().flatten() + 1  # inner [SEP] positions
    cls, end = row[:1], row[-1:]
    if len(seps) == 0:
        return torch.cat([cls, end]), row
    cut = int(seps[-1])
    return row[: cut + 1], torch.cat([cls, row[cut + 1 :]])
