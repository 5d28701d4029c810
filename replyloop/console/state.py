"""What every request of the console works with: one object, made by the entry point."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.templating import Jinja2Templates

from bots.web.chat import WebChat
from core.settings import Settings
from core.store import Store

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class Console:
    settings: Settings
    store: Store
    chat: WebChat
    templates: Jinja2Templates
    # The session cookie is Secure on an HTTPS request (behind a proxy, uvicorn believes its
    # X-Forwarded-Proto from FORWARDED_ALLOW_IPS), or always when this is set.
    secure_cookies: bool = False


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["pct"] = percent
    return templates


def console(request: Request) -> Console:
    """FastAPI dependency: the app's Console."""
    found: Console = request.app.state.console
    return found


def percent(value: Any) -> str:
    """
    >>> percent(0.4567), percent(None)
    ('45.7 %', '–')
    """
    return "–" if value is None else f"{100 * value:.1f} %"


def day(text: str | None, name: str) -> date | None:
    """A date from a form's field: empty means none; anything else not YYYY-MM-DD is a 422.

    >>> day("2026-12-05", "since"), day("", "since")
    (datetime.date(2026, 12, 5), None)
    """
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None
