"""What `--data`, `--pairs`, `--votes` and `--prompts` name, loaded and split.

`chitchat` names the packaged conversations; anything else is an export file. Each source
is split into train and held-out parts by a stable hash of the conversation a row comes
from (chitchat's conversation id; an export row's `conversation_id` pseudonym, the same in
every format and every export), so a conversation is never on both sides: a held-out
turn 2 whose turn 1, its context, was trained on would flatter the held-out figures. Rows
of export files written before they carried a conversation id fall back to their prompt
(replies to one prompt stay on one side, turns of one conversation may not), with a
warning. Each source is recorded in the run folder with its row count and digest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from training.data import chitchat, exports
from training.data.builders import RowShape, liked_rows, selection_pairs, sft_rows, unique_prompts
from training.data.chitchat import DataError
from training.data.exports import TrlRow
from training.data.split import held_out, in_part
from training.data.vote_pairs import mined_pairs
from training.runs import DataSource

log = logging.getLogger(__name__)
# What run.json says the split was taken by (training.runs.HeldOut.key).
BY_CONVERSATION = "conversation"


@dataclass
class Split:
    train: list[TrlRow] = field(default_factory=list)
    held_out: list[TrlRow] = field(default_factory=list)
    sources: list[DataSource] = field(default_factory=list)
    by_prompt: int = 0  # rows split by their prompt, having no conversation id

    def add(self, other: Split) -> None:
        self.train.extend(other.train)
        self.held_out.extend(other.held_out)
        self.sources.extend(other.sources)
        self.by_prompt += other.by_prompt

    @property
    def key(self) -> str:
        """What the split was taken by, as run.json records it."""
        if not self.by_prompt:
            return BY_CONVERSATION
        return f"{BY_CONVERSATION}; prompt for {self.by_prompt} rows without conversation_id"


def prompt_key(row: TrlRow) -> str:
    return json.dumps(row["prompt"], sort_keys=True, ensure_ascii=False)


def split_key(row: TrlRow) -> str | None:
    """The conversation an export row belongs to; None for kto and pairs rows of older
    export files. (Older raw files held the store's integer id: a conversation all the same.)

    >>> split_key({"conversation_id": "9f2c"}), split_key({"conversation_id": 7}), split_key({})
    ('9f2c', '7', None)
    """
    conversation = row.get("conversation_id")
    if isinstance(conversation, bool) or not isinstance(conversation, str | int):
        return None
    return str(conversation) or None


def split_rows(
    rows: Sequence[TrlRow], percent: float, where: str = "rows"
) -> tuple[list[TrlRow], list[TrlRow], int]:
    """(train, held-out, how many rows were split by prompt). A conversation's rows all land
    on one side; a row without a conversation id is split by its prompt, and `where` (the
    file) is named in a warning, since its conversation may then straddle the split."""
    train: list[TrlRow] = []
    kept: list[TrlRow] = []
    by_prompt = 0
    for row in rows:
        key = split_key(row)
        if key is None:
            key, by_prompt = prompt_key(row), by_prompt + 1  # as before conversation ids
        (kept if held_out(key, percent) else train).append(row)
    if by_prompt:
        log.warning(
            "%s: %d of %d rows carry no conversation_id (an older export): they are split "
            "by prompt, so turns of one conversation may be on both sides of the held-out "
            "split; export again to split by conversation",
            where,
            by_prompt,
            len(rows),
        )
    return train, kept, by_prompt


Builder = Callable[[Sequence[chitchat.Conversation], RowShape, int | None, int], list[TrlRow]]


def from_chitchat(
    build: Builder,
    limit: int | None,
    percent: float,
    shape: RowShape,
    seed: int,
    part: str = "all",
) -> Split:
    """Rows built from the packaged conversations; `limit` caps the train rows (the
    held-out rows are capped at a tenth of it, at least 200). Training takes the
    conversations of `part` only (training.data.split.in_part)."""
    conversations = chitchat.load()
    train_c = [c for c in conversations if not held_out(c.id, percent) and in_part(c.id, part)]
    kept_c = [c for c in conversations if held_out(c.id, percent)]
    kept_limit = None if limit is None else max(200, limit // 10)
    train = build(train_c, shape, limit, seed)
    kept = build(kept_c, shape, kept_limit, seed)
    return Split(train, kept, [DataSource(chitchat.version(), len(train) + len(kept))])


def from_file(
    path: Path,
    read: Callable[[Path], list[TrlRow]],
    percent: float,
    what: str,
    part: str = "all",
) -> Split:
    """A file's rows split, training on the conversations of `part`; DataError if it
    holds none (`what` names them: "votes")."""
    rows = read(path)
    if not rows:
        raise DataError(f"{path} has no {what}")
    train, kept, by_prompt = split_rows(rows, percent, str(path))
    train = [row for row in train if in_part(split_key(row) or prompt_key(row), part)]
    return Split(train, kept, [DataSource.of_file(path, len(rows))], by_prompt)


def sft_data(
    names: Sequence[str], limit: int | None, percent: float, shape: RowShape, seed: int
) -> Split:
    """`train sft --data`: chitchat replies, and the 👍 replies of `kto` export files."""
    split = Split()
    for name in names:
        if name == chitchat.NAME:
            split.add(from_chitchat(sft_rows, limit, percent, shape, seed))
        else:
            part = from_file(Path(name), exports.read_votes, percent, "votes")
            part.train, part.held_out = liked_rows(part.train), liked_rows(part.held_out)
            if not part.train and not part.held_out:
                raise DataError(f"{name} has no 👍 replies (SFT learns from liked ones only)")
            split.add(part)
    return split


def rm_pairs(
    names: Sequence[str],
    limit: int | None,
    percent: float,
    shape: RowShape,
    seed: int,
    part: str = "all",
) -> Split:
    """`train rm --pairs`: chitchat response selection, and `pairs` export files."""
    split = Split()
    for name in names:
        if name == chitchat.NAME:
            split.add(from_chitchat(selection_pairs, limit, percent, shape, seed, part))
        else:
            split.add(from_file(Path(name), exports.read_pairs, percent, "pairs", part))
    return split


def votes(names: Sequence[str], percent: float, part: str = "all") -> Split:
    """`--votes`: `kto` export files."""
    split = Split()
    for name in names:
        split.add(from_file(Path(name), exports.read_votes, percent, "votes", part))
    return split


def vote_pairs(names: Sequence[str], percent: float) -> Split:
    """`train dpo --votes`: pairs mined from `kto` export files, a 👍 reply against a 👎
    one of the same conversation and prompt (training.data.vote_pairs). The votes are split
    first, so a pair's two replies, one context, are always on the same side."""
    split = Split()
    for name in names:
        part = from_file(Path(name), exports.read_votes, percent, "votes")
        part.train, part.held_out = mined_pairs(part.train), mined_pairs(part.held_out)
        if not part.train and not part.held_out:
            raise DataError(
                f"{name} has no 👍 and 👎 replies in one context (same conversation and "
                "prompt) to pair"
            )
        split.add(part)
    return split


def prompts(
    names: Sequence[str], limit: int | None, percent: float, shape: RowShape, seed: int
) -> Split:
    """`train ppo --prompts` and `eval --prompts`: contexts of chitchat replies and the
    prompts of export files (any format), each distinct prompt once, as {"prompt": ...}."""
    split = Split()
    for name in names:
        if name == chitchat.NAME:
            part = from_chitchat(sft_rows, limit, percent, shape, seed)
        else:
            part = from_file(Path(name), exports.read_prompts, percent, "prompts")
        part.train = [{"prompt": p} for p in unique_prompts(part.train)]
        part.held_out = [{"prompt": p} for p in unique_prompts(part.held_out)]
        split.add(part)
    return split
