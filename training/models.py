"""Loading the models a trainer works on: a policy (causal LM) and a reward or value model
(a sequence classifier with one output, on the policy's backbone).

Every path here is a local folder; the command line resolves the built-in model's name to
its converted folder before training starts. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def load_tokenizer(path: Path) -> Any:
    """The folder's tokenizer, with a pad token (left-padding is chosen per use)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_policy(path: Path, device: str | torch.device = "cpu") -> Any:
    """A causal LM in float32 (training on CPU; mixed precision is the trainer's business)."""
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model.to(device)


def load_scorer(path: Path, device: str | torch.device = "cpu") -> Any:
    """A sequence classifier with one output. From a policy folder the score head is new
    (initialised by transformers); from a reward-model folder it is the trained one."""
    from transformers import AutoModelForSequenceClassification

    tokenizer = load_tokenizer(path)
    model: Any = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, dtype=torch.float32
    )
    # The classifier scores the last token that is not padding: it must know which that is.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device)


def backbone(model: Any) -> Any:
    """The transformer under a classifier or LM head (`model.model` for Llama)."""
    return getattr(model, model.base_model_prefix)


def token_values(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """A sequence classifier's head applied at every position: per-token values for PPO's
    critic, which starts as the reward model. input_ids: (B, T) -> (B, T)"""
    hidden = backbone(model)(input_ids=input_ids, attention_mask=attention_mask)[0]  # (B, T, C)
    values: torch.Tensor = model.score(hidden).squeeze(-1)  # (B, T)
    return values


def freeze_lower(model: Any, layers: int) -> None:
    """Freeze the embeddings and the `layers` lowest transformer blocks. Below the first
    trainable block autograd keeps no graph, so there a step costs a forward pass only,
    and AdamW holds no state for the 28M embedding weights of SmolLM2-135M (tied to its LM
    head, which stays fixed too)."""
    if layers <= 0:
        return
    body = backbone(model)
    blocks = body.layers
    if layers > len(blocks):
        raise ValueError(f"freeze_layers={layers}, but the model has {len(blocks)} layers")
    body.get_input_embeddings().requires_grad_(False)
    for block in blocks[:layers]:
        block.requires_grad_(False)


def trainable(model: Any) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
