"""`replyloop model list | show V | promote V | rollback | register PATH | canary ...`: the
registry (core.store.registry) from the command line, and canaries
(replyloop.canary_command). Refusals are one line (RegistryError)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.errors import ModelConflict
from core.settings import Settings
from core.store import Store, registry
from core.store.reports import feedback_stats
from core.types import ModelRecord
from replyloop import canary_command
from replyloop.bootstrap import bootstrap

# Metrics `list` shows a model (the first numeric ones the trainer recorded).
SHOWN_METRICS = 3


def add_parser(sub: Any) -> None:
    """The `model` subcommand, on the top-level subparsers."""
    model = sub.add_parser("model", help="registered models: list, show, promote, roll back")
    msub = model.add_subparsers(dest="model_command", required=True, help="what to do")
    msub.add_parser("list", help="every registered model; * marks the promoted one")
    show = msub.add_parser("show", help="one model's record as JSON, with its replies and votes")
    show.add_argument("version", help="a registered version (`replyloop model list`)")
    promote = msub.add_parser(
        "promote", help="make running gpu workers serve this version from their next message"
    )
    promote.add_argument("version", help="a registered version (`replyloop model list`)")
    msub.add_parser(
        "rollback", help="serve the version promoted before the current one (or REPLYLOOP_MODEL)"
    )
    register = msub.add_parser("register", help="register a local model folder")
    register.add_argument("path", type=Path, help="a folder with config.json (from_pretrained)")
    register.add_argument(
        "--kind",
        choices=registry.KINDS,
        default="local",
        help="how it was made (default local: made elsewhere); an rm scores replies and "
        "cannot be promoted",
    )
    register.add_argument("--parent", help="the version it was trained from")
    register.add_argument(
        "--version", help="the name its replies are recorded under (default: folder name+digest)"
    )
    canary_command.add_parser(msub)


def run(settings: Settings, args: argparse.Namespace) -> int:
    store = bootstrap(settings).store
    command = args.model_command
    if command == "list":
        return list_models(settings, store)
    if command == "show":
        return show(store, args.version)
    if command == "promote":
        return promote(settings, store, args.version)
    if command == "rollback":
        return rollback(settings, store)
    if command == "canary":
        return canary_command.run(store, args)
    return register(store, args.path, args.kind, args.parent, args.version)


def list_models(settings: Settings, store: Store) -> int:
    records = registry.list_models(store)
    if not records:
        print(
            "(no models registered yet: REPLYLOOP_MODEL is registered when a gpu worker or "
            "`replyloop chat` first loads it; `replyloop model register PATH`, or train one)"
        )
        return 0
    current = registry.promoted(store)
    width = max(len("version"), *(len(r.version) for r in records))
    parents = max(len("parent"), *(len(r.parent or "-") for r in records))
    print(f"  {'version':{width}} {'kind':7} {'parent':{parents}} {'created':16}  metrics")
    for record in records:
        mark = "*" if current is not None and record.version == current.version else " "
        created = record.created_at.strftime("%Y-%m-%d %H:%M")
        print(
            f"{mark} {record.version:{width}} {record.kind:7} {record.parent or '-':{parents}} "
            f"{created:16}  {key_metrics(record)}".rstrip()
        )
    print(serving(settings, current.version if current else None))
    return 0


def key_metrics(record: ModelRecord) -> str:
    """The first few numeric metrics, short.

    >>> from datetime import UTC, datetime
    >>> at = datetime(2026, 11, 23, tzinfo=UTC)
    >>> key_metrics(ModelRecord("v", "sft", "/m", None, [], {}, {"loss": 1.23456, "note": "x",
    ...     "steps": 400, "kl": 0.02, "reward": 3.0}, at))
    'loss=1.235 steps=400 kl=0.02'
    """
    numbers = [
        (name, value)
        for name, value in record.metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    return " ".join(f"{name}={value:.4g}" for name, value in numbers[:SHOWN_METRICS])


def show(store: Store, version: str) -> int:
    record = registry.get(store, version)
    current = registry.promoted(store)
    stats = feedback_stats(store.engine, version)
    shown: dict[str, Any] = record.as_dict()
    shown["promoted"] = current is not None and current.version == version
    shown["turns"] = stats[0].turns if stats else 0
    shown["votes"] = {"up": stats[0].up, "down": stats[0].down} if stats else {"up": 0, "down": 0}
    shown["approval"] = stats[0].approval if stats else None
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


def promote(settings: Settings, store: Store, version: str) -> int:
    """Only a model whose folder is there (here: a shared filesystem or the same path on
    each machine is assumed) is promoted; a gpu worker that cannot load it all the same
    logs an error and goes on with its current model."""
    record = registry.get(store, version)
    if not (Path(record.path) / "config.json").is_file():
        raise ModelConflict(
            f"{version}'s folder {record.path} has no config.json here; gpu workers could not "
            "load it (copy the model there, or register it again under another version)"
        )
    switch = registry.promote(store, version)
    if not switch.changed:
        print(f"{version} is promoted already")
        return 0
    print(
        f"promoted {version} (was {name(settings, switch.before)}): "
        "gpu workers switch to it on their next message"
    )
    return 0


def rollback(settings: Settings, store: Store) -> int:
    switch = registry.rollback(store)
    print(f"rolled back: {name(settings, switch.before)} -> {name(settings, switch.after)}")
    return 0


def register(store: Store, path: Path, kind: str, parent: str | None, version: str | None) -> int:
    if not (path / "config.json").is_file():
        raise ModelConflict(f"{path} is not a model folder: it has no config.json")
    from workers.models import folder_version

    version = version or folder_version(path)
    known = registry.find(store, version) is not None
    said = f"{version} is registered already" if known else f"registered {version}"
    record = registry.register(store, version=version, kind=kind, path=path, parent=parent)
    print(f"{said} ({record.kind}) at {record.path}")
    return 0


def name(settings: Settings, version: str | None) -> str:
    """A promoted version, or what serves when none is."""
    return version if version is not None else f"REPLYLOOP_MODEL ({settings.model})"


def serving(settings: Settings, version: str | None) -> str:
    if version is None:
        return f"nothing promoted: gpu workers serve {name(settings, None)}"
    return f"* promoted: gpu workers serve {version}"
