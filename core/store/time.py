"""Timestamps: always written in UTC, always read back aware."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes (we write UTC); PostgreSQL, the server's zone."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
