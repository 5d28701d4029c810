"""How much a vote row counts: the margin of its votes, and the model that wrote the reply.

A `kto` export row keeps the majority's label and its `up`/`down` counts. A 3-0 reply and a
2-1 reply get the same label, but the first is much surer: read the votes as draws of the
reply's approval rate p under a uniform prior, the posterior is Beta(1 + up, 1 + down), its
mean (up + 1) / (up + down + 2), and the row's weight is how far that mean sits from a
coin flip, doubled: |up - down| / (up + down + 2). One vote weighs 1/3, 3-0 weighs 3/5,
2-1 weighs 1/5; a tie is never a row (the export leaves it out). Rows without counts (older
exports, hand-written files) count as one vote of their label.

Votes on replies of another model than the current one say less about the current one's
replies (they rate another policy's outputs), so they can be weighted down by a factor.

Weights are relative: they are scaled to a mean of 1, so a learning rate means the same
with or without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from training.data.exports import TrlRow


@dataclass(frozen=True)
class VoteWeighting:
    """The options of every trainer that learns from vote rows (kto; rm's pointwise phase)."""

    margin_weights: bool = field(
        default=True,
        metadata={
            "help": "weight each vote row by its margin, |up-down|/(up+down+2); a pairs row "
            "(train rm) asks a reward gap as wide as its votes' margin (pair_margin)"
        },
    )
    older_version_weight: float = field(
        default=1.0,
        metadata={"help": "weight of votes on replies of a version other than --current-version"},
    )
    current_version: str = field(
        default="",
        metadata={
            "help": "the model version whose votes count fully (default: the starting model)"
        },
    )

    def weights(self, rows: Sequence[TrlRow], starting: str | None) -> list[float]:
        current = self.current_version or starting or ""
        return vote_weights(rows, self.older_version_weight, current, self.margin_weights)


def margin_weight(up: int, down: int) -> float:
    """|up - down| / (up + down + 2): twice the distance of the Beta(1 + up, 1 + down)
    posterior mean of the approval rate from 1/2.

    >>> [round(margin_weight(u, d), 3) for u, d in [(1, 0), (0, 1), (3, 0), (2, 1), (1, 1)]]
    [0.333, 0.333, 0.6, 0.2, 0.0]
    """
    return abs(up - down) / (up + down + 2)


WEAKEST_PAIR = 1 / 3  # one 👍 against a reply with no votes: the least a pair can say


def pair_margin(row: TrlRow) -> float:
    """How far apart the reward model must put a `pairs` row's replies, beyond the weakest
    pair (Llama 2's margin loss, -log σ(r_chosen - r_rejected - margin)): the difference of
    the two replies' signed margins, (up - down) / (up + down + 2) each, less WEAKEST_PAIR.
    0 for a row without counts, and for the weakest pairs.

    >>> row = lambda cu, cd, ru, rd: {"chosen_up": cu, "chosen_down": cd,
    ...                               "rejected_up": ru, "rejected_down": rd}
    >>> [round(pair_margin(row(*c)), 3) for c in [(1, 0, 0, 0), (1, 0, 0, 1), (3, 0, 0, 3)]]
    [0.0, 0.333, 0.867]
    >>> pair_margin({"prompt": []})
    0.0
    """
    found = [row.get(k) for k in ("chosen_up", "chosen_down", "rejected_up", "rejected_down")]
    if not all(isinstance(v, int) for v in found):
        return 0.0
    chosen_up, chosen_down, rejected_up, rejected_down = (int(v) for v in found)  # type: ignore[arg-type]
    signed = (chosen_up - chosen_down) / (chosen_up + chosen_down + 2) - (
        rejected_up - rejected_down
    ) / (rejected_up + rejected_down + 2)
    return max(0.0, signed - WEAKEST_PAIR)


def counts(row: TrlRow) -> tuple[int, int]:
    """(up, down) of a vote row; one vote of its label where the row has no counts."""
    if isinstance(row.get("up"), int) and isinstance(row.get("down"), int):
        return row["up"], row["down"]
    return (1, 0) if row["label"] else (0, 1)


def vote_weights(
    rows: Sequence[TrlRow], older_weight: float = 1.0, current: str = "", margins: bool = True
) -> list[float]:
    """A weight for each vote row, mean 1: its margin weight (if `margins`), times
    `older_weight` if the row names a model_version other than `current` (rows that name
    none, and every row when `current` is empty, count as current).

    >>> rows = [{"label": True, "up": 3, "down": 0, "model_version": "v2"},
    ...         {"label": True, "up": 1, "down": 0, "model_version": "v2"},
    ...         {"label": False, "up": 0, "down": 1, "model_version": "v1"}]
    >>> [round(w, 3) for w in vote_weights(rows)]
    [1.421, 0.789, 0.789]
    >>> [round(w, 3) for w in vote_weights(rows, older_weight=0.5, current="v2")]
    [1.636, 0.909, 0.455]
    >>> vote_weights(rows, margins=False)
    [1.0, 1.0, 1.0]
    """
    if not rows:
        return []
    weights = []
    for row in rows:
        weight = margin_weight(*counts(row)) if margins else 1.0
        version = row.get("model_version")
        if current and isinstance(version, str) and version != current:
            weight *= older_weight
        weights.append(weight)
    mean = sum(weights) / len(weights)
    if mean <= 0:
        raise ValueError("every vote row weighs 0: raise the weight of older model versions")
    return [weight / mean for weight in weights]


def copies(weights: Sequence[float], most: int = 4) -> list[int]:
    """How many times to repeat each row so that repetition stands in for its weight, for
    trainers that take no per-row weights (TRL's KTOTrainer): the weight over the smallest
    weight, rounded, between 1 and `most` (a coarse weighting that cannot grow the data more
    than `most` times). A row of weight 0 is left out.

    >>> copies([1.421, 0.789, 0.789]), copies([3.0, 1.0, 0.2]), copies([1.0, 0.0])
    ([2, 1, 1], [4, 4, 1], [1, 0])
    """
    positive = [w for w in weights if w > 0]
    if not positive:
        return [0 for _ in weights]
    smallest = min(positive)
    return [0 if w <= 0 else max(1, min(most, round(w / smallest))) for w in weights]
