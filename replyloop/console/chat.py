"""The web chat page and its calls: send a message, follow its reply as it is made (Server-
Sent Events), vote 👍/👎, ask again, start over (bots.web.chat does the work)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from bots.web.chat import NotYours
from core.errors import EmptyMessage
from core.types import Vote
from replyloop.console.access import Changes, Signed
from replyloop.console.state import Console, console

router = APIRouter()
VOTE_WORDS = {Vote.UP: "👍 recorded", Vote.DOWN: "👎 recorded", Vote.RETRACTED: "rating removed"}


class Said(BaseModel):
    text: str = Field(max_length=100_000)


class Rated(BaseModel):
    turn_id: int
    value: int = Field(ge=-1, le=1)


class Again(BaseModel):
    message_id: int


@router.get("/chat", response_class=HTMLResponse)
def page(request: Request, session: Signed, app: Annotated[Console, Depends(console)]) -> Response:
    return app.templates.TemplateResponse(
        request,
        "chat.html",
        {"session": session, "lines": app.chat.history(session.user.name)},
    )


@router.post("/chat/messages")
def send(said: Said, session: Changes, app: Annotated[Console, Depends(console)]) -> dict[str, Any]:
    try:
        sent = app.chat.send(session.user.name, said.text)
    except EmptyMessage as exc:
        raise HTTPException(422, str(exc)) from None
    return {"message_id": sent.message_id, "notice": sent.notice}


@router.post("/chat/retry")
def retry(
    again: Again, session: Changes, app: Annotated[Console, Depends(console)]
) -> dict[str, Any]:
    try:
        app.chat.retry(session.user.name, again.message_id)
    except NotYours as exc:
        raise HTTPException(404, str(exc)) from None
    return {"message_id": again.message_id}


@router.post("/chat/reset")
def reset(session: Changes, app: Annotated[Console, Depends(console)]) -> dict[str, Any]:
    app.chat.reset(session.user.name)
    return {"ok": True}


@router.post("/chat/votes")
def vote(
    rated: Rated, session: Changes, app: Annotated[Console, Depends(console)]
) -> dict[str, Any]:
    try:
        result = app.chat.vote(session.user.name, rated.turn_id, rated.value)
    except NotYours as exc:
        raise HTTPException(404, str(exc)) from None
    if result is None:
        return {
            "ok": True,
            "said": "Vote queued: the database is away; it is stored when it is back.",
        }
    if not result["ok"]:
        return {"ok": False, "said": f"Not recorded: {result['error']}"}
    return {"ok": True, "said": VOTE_WORDS[Vote(rated.value)]}


@router.get("/chat/stream/{message_id}")
def stream(
    message_id: int, session: Signed, app: Annotated[Console, Depends(console)]
) -> StreamingResponse:
    try:
        events = app.chat.stream(session.user.name, message_id)
    except NotYours as exc:
        raise HTTPException(404, str(exc)) from None
    return StreamingResponse(
        _sse(events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _sse(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Each event as a Server-Sent Events frame: `part` while it grows, then `done` or
    `notice` (the page closes the stream then, so EventSource does not ask again)."""
    for event in events:
        kind = "done" if "done" in event else "notice" if "notice" in event else "part"
        yield f"event: {kind}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
