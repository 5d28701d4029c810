"""Who may see and do what in the console.

- Nothing but /healthz, /login and the static files without signing in.
- Two roles: a viewer reads every page and chats; an admin also promotes, rolls back,
  starts and stops canaries, and exports data (`admin`).
- A session is a random token in an HttpOnly, SameSite=Lax cookie; the store keeps its
  hash (core.store.users). Every request that changes something carries the session's CSRF
  token (a form field, or the X-CSRF-Token header for the chat's fetch calls): `changes`.
- Sign-ins are limited: after FAILURES failed tries for a name in WINDOW, or
  ADDRESS_FAILURES from one address (a guesser trying many names; a whole office behind
  one address still signs in), the next are refused with 429 until the window has
  passed, without a look at the password.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.store import users
from core.store.users import Session
from replyloop.console.state import Console, console

COOKIE = "replyloop_session"
FAILURES = 5
ADDRESS_FAILURES = 20
WINDOW = timedelta(minutes=15)

router = APIRouter()


class SignInNeeded(Exception):
    """Raised by `signed_in` for a request without a live session (app.py answers)."""


def signed_in(request: Request, app: Annotated[Console, Depends(console)]) -> Session:
    token = request.cookies.get(COOKIE)
    found = users.session(app.store.engine, token) if token else None
    if found is None:
        raise SignInNeeded
    request.state.session = found
    return found


Signed = Annotated[Session, Depends(signed_in)]


def admin(session: Signed) -> Session:
    if not session.user.admin:
        raise HTTPException(403, "admins only: your role is viewer")
    return session


async def changes(request: Request, session: Signed) -> Session:
    """A request that changes something: its CSRF token must be the session's."""
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = str((await request.form()).get("csrf", ""))
    if not sent or not hmac.compare_digest(sent, session.csrf):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page")
    return session


Admin = Annotated[Session, Depends(admin)]
Changes = Annotated[Session, Depends(changes)]


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, app: Annotated[Console, Depends(console)]) -> Response:
    return app.templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login")
def login(
    request: Request,
    app: Annotated[Console, Depends(console)],
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    engine = app.store.engine
    address = request.client.host if request.client else "unknown"
    by_name, by_address = users.failures(engine, name, address, WINDOW)
    if by_name >= FAILURES or by_address >= ADDRESS_FAILURES:
        return app.templates.TemplateResponse(
            request,
            "login.html",
            {"error": f"Too many failed sign-ins: try again in {WINDOW.seconds // 60} minutes."},
            status_code=429,
            headers={"Retry-After": str(WINDOW.seconds)},
        )
    user = users.authenticate(engine, name, password)
    users.record_attempt(engine, name, address, user is not None)
    if user is None:
        return app.templates.TemplateResponse(
            request, "login.html", {"error": "Wrong name or password."}, status_code=401
        )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        users.open_session(engine, user),
        max_age=users.SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=app.secure_cookies or request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(
    request: Request, app: Annotated[Console, Depends(console)], session: Changes
) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        users.close_session(app.store.engine, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
