"""The replies pages: the worst rated and the newest, filtered by platform, model
version, date and vote; and one reply whole (context, model version, votes, siblings)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from core.store import browse
from core.store.browse import ReplyFilter
from replyloop.console.access import Signed
from replyloop.console.state import Console, console, day

router = APIRouter()
ORDERS = ("worst", "recent")


@router.get("/replies", response_class=HTMLResponse)
def listing(
    request: Request,
    session: Signed,
    app: Annotated[Console, Depends(console)],
    order: Annotated[str, Query(pattern="^(worst|recent)$")] = "worst",
    platform: Annotated[str | None, Query(max_length=32)] = None,
    model_version: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    vote: Annotated[str | None, Query(pattern="^(up|down)?$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    where = ReplyFilter(
        platform or None,
        model_version or None,
        day(since, "since"),
        day(until, "until"),
        vote or None,
    )
    engine = app.store.engine
    found = (browse.worst if order == "worst" else browse.recent)(engine, where, limit)
    return app.templates.TemplateResponse(
        request,
        "replies.html",
        {
            "session": session,
            "rows": found,
            "order": order,
            "where": where,
            "limit": limit,
            "versions": browse.versions(engine),
            "platforms": browse.platforms(engine),
        },
    )


@router.get("/replies/{turn_id}", response_class=HTMLResponse)
def one(
    request: Request, turn_id: int, session: Signed, app: Annotated[Console, Depends(console)]
) -> Response:
    found = browse.reply(app.store.engine, turn_id)
    if found is None:
        raise HTTPException(404, f"no reply {turn_id}")
    return app.templates.TemplateResponse(
        request, "reply.html", {"session": session, "reply": found}
    )
