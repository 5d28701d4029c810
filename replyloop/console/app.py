"""The console's FastAPI app: its pages, its static files (plotly.js from the plotly
package itself: no CDN, nothing downloaded), /healthz, and the answers to a request
without a session (to /login) or refused (a page saying why, or JSON for the chat's
calls)."""

from __future__ import annotations

import time
from pathlib import Path

import plotly
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replyloop.console import access, chat, export, models, overview, replies
from replyloop.console.state import Console
from wire import metrics

STATIC = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
# Scripts only from this origin; plotly sets inline styles as it draws.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def make_app(console: Console) -> FastAPI:
    app = FastAPI(title="replyloop console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    for router in (access, overview, replies, models, export, chat):
        app.include_router(router.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/vendor/plotly.min.js")
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, headers={"Cache-Control": "public, max-age=86400"})

    @app.exception_handler(access.SignInNeeded)
    def sign_in(request: Request, exc: access.SignInNeeded) -> Response:
        if _wants_page(request):
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"detail": "sign in first"}, status_code=401)

    @app.exception_handler(HTTPException)
    def refused(request: Request, exc: HTTPException) -> Response:
        if _wants_page(request):
            return console.templates.TemplateResponse(
                request,
                "refused.html",
                {"status": exc.status_code, "detail": exc.detail},
                status_code=exc.status_code,
            )
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    app.add_middleware(SecurityHeaders)
    app.add_middleware(Timed)
    return app


def _wants_page(request: Request) -> bool:
    """A browser's page load or form post (not the chat's fetch calls)."""
    if request.method == "GET":
        return "text/html" in request.headers.get("accept", "")
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


class Timed:
    """Each answer's time in replyloop_console_request_seconds (wire.metrics), by the
    route's template (/replies/{turn_id}, not every id) and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unrouted")
            metrics.CONSOLE_SECONDS.labels(route, str(status)).observe(time.perf_counter() - began)


class SecurityHeaders:
    """Every answer says: no framing, no sniffing, scripts from here only, no referrer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)
