"""Exports for download, with the CLI's formats and filters, streamed: rows are written
as the database cursor yields them (core.export), so memory stays flat however many."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from core.export import ExportFilter
from core.export.writer import FORMATS, export_lines
from core.store import browse
from replyloop.console.access import Admin
from replyloop.console.state import Console, console, day
from replyloop.rater_secret import rater_secret

router = APIRouter()
CHUNK_LINES = 200  # rows sent a write: fewer, larger writes than one a row


@router.get("/export", response_class=HTMLResponse)
def page(request: Request, session: Admin, app: Annotated[Console, Depends(console)]) -> Response:
    return app.templates.TemplateResponse(
        request,
        "export.html",
        {"session": session, "formats": FORMATS, "versions": browse.versions(app.store.engine)},
    )


@router.get("/export/download")
def download(
    session: Admin,
    app: Annotated[Console, Depends(console)],
    fmt: str = "raw",
    since: Annotated[str | None, Query(max_length=10)] = None,
    model_version: Annotated[str | None, Query(max_length=128)] = None,
) -> StreamingResponse:
    if fmt not in FORMATS:
        raise HTTPException(404, f"no export format {fmt!r}: {', '.join(FORMATS)}")
    first = day(since, "since")
    where = ExportFilter(
        datetime(first.year, first.month, first.day, tzinfo=UTC) if first else None,
        model_version or None,
    )
    lines = export_lines(app.store.engine, fmt, rater_secret(app.settings), where)
    name = f"replyloop-{fmt}-{datetime.now(UTC):%Y%m%d-%H%M%S}.jsonl"
    return StreamingResponse(
        _chunks(lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _chunks(lines: Iterator[str]) -> Iterator[str]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == CHUNK_LINES:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)
