"""The chitchat-dataset package's 7,168 open-domain conversations (MIT), read from the JSON
file the wheel ships; nothing is downloaded.

A conversation there is a list of turns, each a list of messages one person sent in a row;
the two people alternate. A turn's messages are joined with newlines, as in a chat.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

DIST = "chitchat-dataset"
NAME = "chitchat"  # what --data and --prompts call the packaged set


class DataError(ValueError):
    """Data that cannot be trained on (a file that cannot be read as training data, or
    none of the rows a trainer needs); says where and why, in one line."""


@dataclass(frozen=True)
class Conversation:
    id: str
    turns: tuple[str, ...]  # alternating speakers, the first speaker first


def dataset_file() -> Path:
    """The JSON inside the installed wheel, found without importing its package."""
    try:
        dist = importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError as exc:
        raise DataError(f"the chitchat data needs its wheel: pip install {DIST}==0.9.0") from exc
    for file in dist.files or []:
        if str(file).endswith("dataset.json"):
            return Path(str(dist.locate_file(file)))
    raise DataError(f"{DIST} is installed but holds no dataset.json")


def version() -> str:
    return f"{DIST}=={importlib.metadata.version(DIST)}"


def load(path: Path | None = None) -> list[Conversation]:
    """Every conversation with at least two turns, in the file's order."""
    source = path or dataset_file()
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{source}: not a chitchat dataset file ({exc})") from exc
    conversations = []
    for key, value in raw.items():
        turns = _turns(value["messages"])
        if len(turns) >= 2:
            conversations.append(Conversation(key, turns))
    return conversations


def _turns(messages: list[list[dict[str, str]]]) -> tuple[str, ...]:
    """One text a turn; blank messages dropped, and a person's consecutive turns (split in
    the file, or left adjacent by a blank one) merged, so the speakers alternate."""
    merged: list[tuple[str, list[str]]] = []  # (sender, texts)
    for turn in messages:
        for message in turn:
            text = message["text"].strip()
            if not text:
                continue
            if merged and merged[-1][0] == message["sender"]:
                merged[-1][1].append(text)
            else:
                merged.append((message["sender"], [text]))
    return tuple("\n".join(texts) for _, texts in merged)
