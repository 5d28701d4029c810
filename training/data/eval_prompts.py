"""`replyloop eval --prompts`: held-out prompts with the conversation each came from, and
a stratified, seeded sample of them.

Taking the first `--limit` held-out rows in file order judged the default 200 prompts on
16 of 199 held-out conversations: a few long conversations decided the result, and the
prompts within one conversation are not independent (one topic, one pair of people).
`stratified` deals prompts out round-robin over conversations in a seeded shuffled order,
at most `per_conversation` from each, so the sample spans as many conversations as it can.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.types import ChatMessage
from training.data import chitchat, exports
from training.data.builders import RowShape, prompt_before, reply_slots
from training.data.sources import from_file, prompt_key, split_key
from training.data.split import held_out


@dataclass(frozen=True)
class HeldOutPrompt:
    prompt: list[ChatMessage]
    conversation: str  # chitchat's id, an export's conversation_id, else the prompt itself


def held_out_prompts(names: Sequence[str], percent: float, shape: RowShape) -> list[HeldOutPrompt]:
    """Every distinct held-out prompt of the sources `names` ('chitchat' or export files),
    split as in training (a stable hash of the conversation), in order."""
    found: list[HeldOutPrompt] = []
    for name in names:
        if name == chitchat.NAME:
            kept = [c for c in chitchat.load() if held_out(c.id, percent)]
            found += [
                HeldOutPrompt(prompt_before(kept[c], t, shape), f"{chitchat.NAME}:{kept[c].id}")
                for c, t in reply_slots(kept, shape, None, 0)
            ]
        else:
            rows = from_file(Path(name), exports.read_prompts, percent, "prompts").held_out
            found += [HeldOutPrompt(r["prompt"], split_key(r) or prompt_key(r)) for r in rows]
    seen: set[str] = set()
    distinct = []
    for row in found:
        key = prompt_key({"prompt": row.prompt})
        if key not in seen:
            seen.add(key)
            distinct.append(row)
    return distinct


def stratified(
    rows: Sequence[HeldOutPrompt], limit: int, per_conversation: int, seed: int
) -> list[HeldOutPrompt]:
    """At most `limit` rows, at most `per_conversation` from each conversation: one from
    every conversation (in a seeded shuffled order) before a second from any.

    >>> rows = [HeldOutPrompt([], c) for c in "aaaaab"]
    >>> [r.conversation for r in stratified(rows, 10, 2, seed=0)]
    ['a', 'b', 'a']
    """
    groups: dict[str, list[HeldOutPrompt]] = {}
    for row in rows:
        groups.setdefault(row.conversation, []).append(row)
    rng = random.Random(seed)
    order = sorted(groups)  # independent of file order, then shuffled by the seed
    rng.shuffle(order)
    for key in order:
        rng.shuffle(groups[key])
    picked: list[HeldOutPrompt] = []
    for turn in range(per_conversation):
        for key in order:
            if len(picked) == limit:
                return picked
            if turn < len(groups[key]):
                picked.append(groups[key][turn])
    return picked
