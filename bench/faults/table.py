"""The one table the harness prints, a row per scenario."""

from __future__ import annotations

from bench.faults.traffic import Outcome

HEADER = (
    "scenario",
    "sent",
    "stored",
    "replied",
    "duplicated",
    "lost",
    "lost votes",
    "time to recover (s)",
)


def row(outcome: Outcome, wait_s: float) -> tuple[str, ...]:
    recover = (
        f"{outcome.recover_s:.1f}" if outcome.recover_s is not None else f"never (>{wait_s:.0f})"
    )
    return (
        outcome.scenario,
        str(outcome.sent),
        str(outcome.stored),
        str(outcome.replied),
        str(outcome.duplicated),
        f"{outcome.lost} ({outcome.unsent_claims} unsent claims)"
        if outcome.unsent_claims
        else str(outcome.lost),
        f"{outcome.lost_votes}/{outcome.votes_cast}",
        recover,
    )


def render(outcomes: list[Outcome], wait_s: float) -> str:
    rows = [HEADER, *(row(o, wait_s) for o in outcomes)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    notes = [f"  {o.scenario}: {note}" for o in outcomes for note in o.notes]
    figures = [
        f"  {o.scenario}: " + ", ".join(f"{k} {v:.2f}" for k, v in o.figures.items())
        for o in outcomes
        if o.figures
    ]
    return "\n".join(lines + (["notes:", *notes] if notes else []) + figures)
