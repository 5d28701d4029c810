"""What /stats says: the served model's approval and counts, as plain text (no I/O)."""

from __future__ import annotations

from core.store.reports import ModelStats

NO_REPLIES = "No replies yet, so no ratings either."


def stats_text(stats: ModelStats | None) -> str:
    """
    >>> stats_text(ModelStats("ppo-3", turns=12, up=3, down=1))
    'Model ppo-3: approval 75% (3 👍, 1 👎) over 12 replies.'
    >>> stats_text(ModelStats("ppo-3", turns=2, up=0, down=0))
    'Model ppo-3: no votes yet over 2 replies.'
    >>> stats_text(None) == NO_REPLIES
    True
    """
    if stats is None:
        return NO_REPLIES
    replies = f"{stats.turns} repl{'y' if stats.turns == 1 else 'ies'}"
    if stats.approval is None:
        return f"Model {stats.model_version}: no votes yet over {replies}."
    return (
        f"Model {stats.model_version}: approval {stats.approval:.0%} "
        f"({stats.up} 👍, {stats.down} 👎) over {replies}."
    )
