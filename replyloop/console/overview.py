"""The overview page: is the bot getting better or worse? Messages and votes a day,
approval per model version a day and per platform, each with its 95 % interval."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from core.store import registry
from core.store.dashboard import Overview, Tally, overview
from replyloop.console.access import Signed
from replyloop.console.state import Console, console

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def page(
    request: Request,
    session: Signed,
    app: Annotated[Console, Depends(console)],
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Response:
    figures = overview(app.store.engine, days)
    promoted = registry.promoted(app.store)
    return app.templates.TemplateResponse(
        request,
        "overview.html",
        {
            "session": session,
            "days": days,
            "charts": charts(figures),
            "versions": version_table(figures),
            "platforms": {name: t.figures() for name, t in sorted(figures.by_platform.items())},
            "total": figures.total.figures(),
            "messages": sum(figures.messages.values()),
            "promoted": promoted.version if promoted else None,
        },
    )


def charts(figures: Overview) -> dict[str, Any]:
    """The charts' data, as the page's script hands it to plotly.js."""
    versions = []
    for version, by_day in sorted(figures.by_version.items()):
        days = [day for day in figures.days if day in by_day]
        shown = [by_day[day].figures() for day in days]
        versions.append(
            {
                "name": version,
                "x": days,
                "y": [f["approval"] for f in shown],
                "high": [round(f["high"] - f["approval"], 4) for f in shown],
                "low": [round(f["approval"] - f["low"], 4) for f in shown],
                "votes": [by_day[day].votes for day in days],
            }
        )
    platforms = sorted(figures.by_platform.items())
    return {
        "days": figures.days,
        "messages": [figures.messages.get(day, 0) for day in figures.days],
        "votes": [figures.votes.get(day, 0) for day in figures.days],
        "versions": versions,
        "platforms": {
            "x": [name for name, _ in platforms],
            "y": [t.figures()["approval"] for _, t in platforms],
            "high": [_above(t) for _, t in platforms],
            "low": [_below(t) for _, t in platforms],
            "votes": [t.votes for _, t in platforms],
        },
    }


def version_table(figures: Overview) -> list[dict[str, Any]]:
    """Each version's approval over the whole period."""
    rows = []
    for version, by_day in sorted(figures.by_version.items()):
        tally = Tally(sum(t.up for t in by_day.values()), sum(t.down for t in by_day.values()))
        rows.append({"version": version, **tally.figures()})
    return rows


def _above(tally: Tally) -> float:
    """How far the interval reaches above the approval (plotly's error bars)."""
    f = tally.figures()
    return 0.0 if f["approval"] is None else round(f["high"] - f["approval"], 4)


def _below(tally: Tally) -> float:
    f = tally.figures()
    return 0.0 if f["approval"] is None else round(f["approval"] - f["low"], 4)
