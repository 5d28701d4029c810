"""A reward model's score for (prompt, reply) texts: the one formatting every user of the
reward model shares (training metrics, PPO rewards, eval win rates).

The text is the chat template applied to the prompt plus the reply as an assistant
message, as TRL's RewardTrainer formats conversational rows. For a reward model made from a
decoder (the policy), the score is the classifier's output at the last real token, found
from the attention mask (not from the pad id, which is the end-of-turn token in SmolLM2 and
so also appears inside the text); for an encoder's (training.encoder), the text is wrapped
in [CLS] ... [SEP] and the score is its classifier's, pooled from [CLS].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from core.types import ChatMessage
from training.encoder import is_encoder, is_encoder_tokenizer
from training.models import token_values

DEFAULT_LENGTH = 512


def conversation_text(tokenizer: Any, prompt: Sequence[ChatMessage], reply: str) -> str:
    messages = [*prompt, {"role": "assistant", "content": reply}]
    text: str = tokenizer.apply_chat_template(messages, tokenize=False)
    return text


def encode_scored(
    tokenizer: Any, texts: Sequence[str], max_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and mask; a text over max_length keeps its end (the reply). An
    encoder's rows are [CLS] text [SEP], the text cut to fit between them."""
    first: list[int] = []
    last: list[int] = []
    if is_encoder_tokenizer(tokenizer):
        first, last = [tokenizer.cls_token_id], [tokenizer.sep_token_id]
    room = max_length - len(first) - len(last)
    rows = [
        first + tokenizer(text, add_special_tokens=False)["input_ids"][-room:] + last
        for text in texts
    ]
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(rows), width), dtype=torch.long)  # (B, T)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def sequence_scores(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """(B, T) right-padded -> (B,): a reward model's score of each row, read where its kind
    reads it (the encoder's [CLS], or the decoder's last real token)."""
    if is_encoder(model):
        logits: torch.Tensor = model(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits.squeeze(-1)
    return last_token_scores(model, input_ids, attention_mask)


def last_token_scores(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """(B, T) right-padded -> (B,): the head's output at each row's last real token."""
    values = token_values(model, input_ids, attention_mask)  # (B, T)
    last = attention_mask.sum(-1) - 1  # (B,)
    assert bool((last >= 0).all()), "an empty row has no score"
    return values.gather(1, last.unsqueeze(1)).squeeze(1)


@torch.no_grad()
def reward_scores(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[ChatMessage]],
    replies: Sequence[str],
    batch_size: int = 16,
    max_length: int = DEFAULT_LENGTH,
    progress: str | None = None,
) -> list[float]:
    """The reward model's score of each reply to its prompt; `progress` names a progress
    bar on stderr (long scoring on a CPU takes minutes), None shows none.

    A text keeps its last `max_length` tokens, and never more than the reward model was
    trained on: `train rm` saves its --max-length as the tokenizer's model_max_length, so
    PPO and eval score what the model learned to score."""
    assert len(prompts) == len(replies)
    max_length = min(max_length, tokenizer.model_max_length)
    device = next(model.parameters()).device
    scores: list[float] = []
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(prompts), desc=progress, unit="reply", disable=progress is None)
    for start in range(0, len(prompts), batch_size):
        end = start + batch_size
        texts = [
            conversation_text(tokenizer, prompt, reply)
            for prompt, reply in zip(prompts[start:end], replies[start:end], strict=True)
        ]
        ids, mask = encode_scored(tokenizer, texts, max_length)
        scores.extend(sequence_scores(model, ids.to(device), mask.to(device)).tolist())
        bar.update(len(texts))
    bar.close()
    model.train(was_training)
    return scores
