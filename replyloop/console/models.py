"""The models page: the registry (lineage, data, metrics, eval reports with their plots),
what serves, the promotion history, the canary with each arm's approval and the test's
state; and, for admins, promote, roll back, start and stop a canary (the CLI's own calls,
with its refusals said on the page)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from core.errors import RegistryError
from core.sequential import Arm, decide
from core.store import canaries, registry
from core.types import ModelRecord
from replyloop.canary_command import serving
from replyloop.console.access import Changes, Signed, admin
from replyloop.console.state import Console, console

router = APIRouter()
IMAGES = (".png", ".svg")


@router.get("/models", response_class=HTMLResponse)
def page(
    request: Request,
    session: Signed,
    app: Annotated[Console, Depends(console)],
    said: str | None = None,
    error: str | None = None,
) -> Response:
    store = app.store
    records = registry.list_models(store)
    promoted = registry.promoted(store)
    return app.templates.TemplateResponse(
        request,
        "models.html",
        {
            "session": session,
            "models": [model_view(r) for r in reversed(records)],
            "promoted": promoted.version if promoted else None,
            "history": list(reversed(registry.history(store)))[:20],
            "canary": canary_view(app),
            "dialogue": [r.version for r in records if r.kind not in registry.NOT_DIALOGUE],
            "said": said,
            "error": error,
        },
    )


@router.post("/models/promote")
def promote(
    session: Changes,
    app: Annotated[Console, Depends(console)],
    version: Annotated[str, Form(max_length=128)],
) -> Response:
    admin(session)
    return _act(lambda: f"promoted {registry.promote(app.store, version).after}")


@router.post("/models/rollback")
def rollback(session: Changes, app: Annotated[Console, Depends(console)]) -> Response:
    admin(session)

    def back() -> str:
        now = registry.rollback(app.store).after
        return f"rolled back: now serving {now or 'REPLYLOOP_MODEL'}"

    return _act(back)


@router.post("/models/canary")
def start_canary(
    session: Changes,
    app: Annotated[Console, Depends(console)],
    version: Annotated[str, Form(max_length=128)],
    share: Annotated[int, Form()] = 20,
) -> Response:
    admin(session)

    def start() -> str:
        registry.get(app.store, version)
        started = canaries.start(app.store, version, share, serving(app.store))
        return f"canary {started.version} on {started.share} % of new conversations"

    return _act(start)


@router.post("/models/canary/stop")
def stop_canary(session: Changes, app: Annotated[Console, Depends(console)]) -> Response:
    admin(session)
    return _act(lambda: f"stopped the canary of {canaries.stop(app.store).version}")


@router.get("/models/{version}/eval/{name}")
def eval_image(
    version: str, name: str, session: Signed, app: Annotated[Console, Depends(console)]
) -> FileResponse:
    record = registry.find(app.store, version)
    folder = eval_folder(record) if record else None
    if folder is None or name not in {p.name for p in folder.iterdir() if p.suffix in IMAGES}:
        raise HTTPException(404, "no such plot")
    return FileResponse(folder / name)


def _act(action: Callable[[], str]) -> Response:
    """Do it, and come back to the page saying what happened or why not."""
    try:
        query = urlencode({"said": action()})
    except RegistryError as exc:
        query = urlencode({"error": str(exc)})
    return RedirectResponse(f"/models?{query}", status_code=303)


def eval_folder(record: ModelRecord) -> Path | None:
    """`replyloop eval`'s default report folder for a model trained into a run folder."""
    folder = Path(record.path).parent / "eval"
    return folder if (folder / "report.json").is_file() else None


def model_view(record: ModelRecord) -> dict[str, Any]:
    folder = eval_folder(record)
    report: dict[str, Any] | None = None
    images: list[str] = []
    if folder is not None:
        report = json.loads((folder / "report.json").read_text())
        images = sorted(p.name for p in folder.iterdir() if p.suffix in IMAGES)
    return {
        "record": record,
        "metrics": {k: v for k, v in record.metrics.items() if isinstance(v, int | float | str)},
        "report": report,
        "images": images,
    }


def canary_view(app: Console) -> dict[str, Any] | None:
    """The running canary (or the last one) with each arm's figures and the test's state."""
    store = app.store
    now = canaries.running(store)
    if now is not None:
        ours, theirs = canaries.arms(store, now)
    else:
        ended = canaries.history(store)
        if not ended:
            return None
        now = ended[-1]
        if not now.figures:
            return {"canary": now, "arms": [], "decision": None}
        ours, theirs = Arm(**now.figures["canary"]), Arm(**now.figures["incumbent"])
    decision = decide(ours, theirs, now.rule)
    arms = []
    for name, arm in ((f"canary {now.version}", ours), (f"incumbent {now.incumbent}", theirs)):
        low, high = arm.interval()
        approval = arm.approval if arm.votes else None
        arms.append(
            {"name": name, "votes": arm.votes, "up": arm.up, "approval": approval, "low": low,
             "high": high}
        )  # fmt: skip
    return {"canary": now, "arms": arms, "decision": decision}
