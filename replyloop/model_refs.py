"""What `--base`, `--policy`, `--reward` and `--baseline` may name, turned into a folder and
the version its replies are recorded under: the built-in model's name, a registered
version, a training run folder (its `model/`), or any local model folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import UnknownModel
from core.settings import Settings
from core.store import Store, registry
from workers.models import BUILTIN, BUILTIN_VERSION, folder_version, resolve


class ModelRefError(Exception):
    """The name is none of the things a model option accepts."""


@dataclass(frozen=True)
class ModelRef:
    path: Path
    version: str


def model_ref(name: str, settings: Settings, store: Store) -> ModelRef:
    if name == BUILTIN:
        return ModelRef(resolve(BUILTIN, settings.cache_dir).path, BUILTIN_VERSION)
    try:
        record = registry.get(store, name)
        return ModelRef(Path(record.path), record.version)
    except UnknownModel:
        pass
    path = Path(name).expanduser()
    if (path / "model" / "config.json").exists():
        path = path / "model"  # a run folder
    if not (path / "config.json").exists():
        raise ModelRefError(
            f"{name!r} is not {BUILTIN!r}, a registered version (replyloop model list), "
            "a training run folder or a model folder with a config.json"
        )
    folder = str(path.resolve())
    for record in registry.list_models(store):
        if record.path == folder:
            return ModelRef(path.resolve(), record.version)
    return ModelRef(path.resolve(), folder_version(path))


def run_version(run_root: Path, model_dir: Path) -> str:
    """A trained model's version: its run folder's name and a digest of the weights' files
    (the same run trained twice into the same folder keeps its name only if unchanged)."""
    return f"{run_root.resolve().name}-{folder_version(model_dir).rsplit('-', 1)[1]}"
