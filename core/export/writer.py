"""`replyloop feedback export`: rated replies to JSON Lines in one of three formats."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from itertools import groupby
from typing import Any, TextIO

from sqlalchemy import Engine

from core.export.pseudonyms import Pseudonyms
from core.export.query import ExportFilter, iter_rated
from core.export.rows import RatedTurn, kto_row, pair_rows, raw_row
from core.store.people import known_names

FORMATS = ("raw", "kto", "pairs")
Progress = Callable[[int], None]


def _rows(fmt: str, turns: Iterable[RatedTurn], secret: bytes) -> Iterator[dict[str, Any]]:
    if fmt == "raw":
        for turn in turns:
            yield raw_row(turn, secret)
    elif fmt == "kto":
        for turn in turns:
            row = kto_row(turn, secret)
            if row is not None:
                yield row
    elif fmt == "pairs":
        for _message_id, siblings in groupby(turns, key=lambda t: t.message_id):
            yield from pair_rows(list(siblings), secret)
    else:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def export(
    engine: Engine,
    fmt: str,
    out: TextIO,
    secret: bytes,
    where: ExportFilter | None = None,
    progress: Progress | None = None,
) -> int:
    """Write one JSON object a line; returns the number of rows written.

    People's names in the text become pseudonyms under `secret`, the raters' key
    (core.export.pseudonyms). `progress` is called with the number of rated replies read
    since the last call.
    """
    written = 0
    for line in export_lines(engine, fmt, secret, where, progress):
        out.write(line)
        written += 1
    return written


def export_lines(
    engine: Engine,
    fmt: str,
    secret: bytes,
    where: ExportFilter | None = None,
    progress: Progress | None = None,
) -> Iterator[str]:
    """`export`'s rows as they are read, each a JSON line ending in a newline (the
    console streams them to a download)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    where = where or ExportFilter()
    pseudonyms = Pseudonyms(known_names(engine), secret)
    turns: Iterator[RatedTurn] = map(
        pseudonyms.turn, iter_rated(engine, where, by_message=fmt == "pairs")
    )
    if progress is not None:
        turns = _counting(turns, progress)
    for row in _rows(fmt, turns, secret):
        yield json.dumps(row, ensure_ascii=False) + "\n"


def _counting(
    turns: Iterator[RatedTurn], progress: Progress, every: int = 500
) -> Iterator[RatedTurn]:
    pending = 0
    for turn in turns:
        yield turn
        pending += 1
        if pending == every:
            progress(pending)
            pending = 0
    if pending:
        progress(pending)
