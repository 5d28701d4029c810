"""Loading the models a trainer works on: a policy (causal LM) and a reward or value model
(a sequence classifier with one output, on the policy's backbone).

Every path here is a local folder; the command line resolves the built-in model's name to
its converted folder before training starts. Nothing is downloaded.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from training.data.chitchat import DataError

# What transformers may find missing or unexpected when a causal LM's folder is loaded as a
# sequence classifier: the classifier's head is new, and the LM head is not used.
# A decoder's head, a [CLS] classifier's and a pair scorer's (training.encoder).
NEW_HEAD = ("score.", "classifier.", "head.")
UNUSED_HEAD = ("lm_head.", "pooler.")  # a causal LM's head; BERT's pooler (pair scorer)
SHOWN_KEYS = 5


def load_tokenizer(path: Path) -> Any:
    """The folder's tokenizer, with a pad token (left-padding is chosen per use)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


class TokenizerMismatch(DataError):
    """Two models that must read the same token ids were trained with different tokenizers
    (a DataError: the command line says it in one line, as bad training data)."""


# A probe with a system block, an exchange, non-ASCII text and digits: tokenizers that agree
# on it agree on the template and on the merges a chat uses.
PROBE: list[dict[str, str]] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Bonjour! Quelle est la capitale de la France? 42 €"},
    {"role": "assistant", "content": "Paris, naturellement. 🙂"},
]


REWARD_ADVICE = (
    "train the reward model from the policy's SFT model, or the policy from the reward model's base"
)


def check_same_tokenizer(
    tokenizer: Any, other: Any, name: str, other_name: str, advice: str = REWARD_ADVICE
) -> None:
    """Refuse two tokenizers that would give the same text different ids: same vocabulary
    size, and the same ids for a probe conversation, plain and through the chat template.

    PPO's critic starts as the reward model and reads the policy's token ids as they are,
    so a reward model trained over another tokenizer would value tokens it never saw.
    """
    problems = []
    if len(tokenizer) != len(other):
        problems.append(f"vocabularies of {len(tokenizer)} and {len(other)} tokens")
    text = " ".join(m["content"] for m in PROBE)
    if (
        tokenizer(text, add_special_tokens=False)["input_ids"]
        != (other(text, add_special_tokens=False)["input_ids"])
    ):
        problems.append("different ids for the same text")
    templated = [
        t.apply_chat_template(PROBE, tokenize=True, return_dict=False) for t in (tokenizer, other)
    ]
    if list(templated[0]) != list(templated[1]):
        problems.append("different ids for the same chat through their chat templates")
    if problems:
        raise TokenizerMismatch(
            f"{name} and {other_name} do not share a tokenizer ({'; '.join(problems)}): " + advice
        )


def load_policy(path: Path, device: str | torch.device = "cpu") -> Any:
    """A causal LM in float32 (training on CPU; mixed precision is the trainer's business)."""
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model.to(device)


def load_scorer(path: Path, device: str | torch.device = "cpu") -> Any:
    """A sequence classifier with one output (a BertPairScorer where the folder's config names
    one: training.encoder). From a policy folder the score head is new (initialised by
    transformers); from a reward-model folder it is the trained one."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from training.encoder import ARCHITECTURE
    from training.pair_scorer import BertPairScorer

    tokenizer = load_tokenizer(path)
    pair = ARCHITECTURE in (AutoConfig.from_pretrained(path).architectures or [])
    kind: Any = BertPairScorer if pair else AutoModelForSequenceClassification
    with _without_load_report():
        model, info = kind.from_pretrained(
            path, num_labels=1, dtype=torch.float32, output_loading_info=True
        )
    said = loading_said(path, info)
    if said:
        print(said, file=sys.stderr)
    # The classifier scores the last token that is not padding: it must know which that is.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device)


def loading_said(path: Path, info: dict[str, Any]) -> str | None:
    """One plain line about what loading `path` as a scorer did not find, or None.

    >>> loading_said(Path("runs/sft/model"), {"missing_keys": {"score.weight"}})
    'the reward head (score.weight) is new: initialised at random over runs/sft/model'
    >>> print(loading_said(Path("runs/rm/model"), {"missing_keys": set()}))
    None
    >>> loading_said(Path("m"), {"missing_keys": {"model.norm.weight", "score.weight"},
    ...     "unexpected_keys": {"lm_head.weight", "extra.bias"}})
    'loading m as a scorer: missing model.norm.weight, score.weight; unexpected extra.bias'
    """
    missing = sorted(info.get("missing_keys", ()))
    unexpected = sorted(k for k in info.get("unexpected_keys", ()) if not k.startswith(UNUSED_HEAD))
    mismatched = sorted(k[0] for k in info.get("mismatched_keys", ()))
    if not (unexpected or mismatched) and missing and all(k.startswith(NEW_HEAD) for k in missing):
        return f"the reward head ({', '.join(missing)}) is new: initialised at random over {path}"
    problems = [
        f"{what} {', '.join(keys[:SHOWN_KEYS])}{' ...' if len(keys) > SHOWN_KEYS else ''}"
        for what, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mismatched", mismatched),
        )
        if keys
    ]
    return f"loading {path} as a scorer: {'; '.join(problems)}" if problems else None


class _NoLoadReport(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in record.getMessage()


@contextmanager
def _without_load_report() -> Iterator[None]:
    """transformers logs a table with terminal colour codes whenever a key is missing (always,
    for a classifier made from a causal LM); loading_said says the same in one line."""
    logger = logging.getLogger("transformers.modeling_utils")
    report = _NoLoadReport()
    logger.addFilter(report)
    try:
        yield
    finally:
        logger.removeFilter(report)


def unwrapped(model: Any) -> Any:
    """The transformers model under a PEFT (LoRA) wrapper, adapters in place; any other
    model as it is. (A PeftModel forwards unknown attributes to the LoRA layer below it,
    whose `model` is the whole classifier, not its backbone.)"""
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if callable(get_base_model) else model


def backbone(model: Any) -> Any:
    """The transformer under a classifier or LM head (`model.model` for Llama)."""
    model = unwrapped(model)
    return getattr(model, model.base_model_prefix)


def token_values(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """A sequence classifier's head applied at every position: per-token values for PPO's
    critic, which starts as the reward model. input_ids: (B, T) -> (B, T)"""
    hidden = backbone(model)(input_ids=input_ids, attention_mask=attention_mask)[0]  # (B, T, C)
    values: torch.Tensor = unwrapped(model).score(hidden).squeeze(-1)  # (B, T)
    return values


def freeze_lower(model: Any, layers: int) -> None:
    """Freeze the embeddings and the `layers` lowest transformer blocks. Below the first
    trainable block autograd keeps no graph, so there a step costs a forward pass only,
    and AdamW holds no state for the 28M embedding weights of SmolLM2-135M (tied to its LM
    head, which stays fixed too)."""
    if layers <= 0:
        return
    body = backbone(model)
    blocks = body.layers if hasattr(body, "layers") else body.encoder.layer  # decoder, encoder
    if layers > len(blocks):
        raise ValueError(f"freeze_layers={layers}, but the model has {len(blocks)} layers")
    body.get_input_embeddings().requires_grad_(False)
    for block in blocks[:layers]:
        block.requires_grad_(False)


def trainable(model: Any) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
