"""What `--base`, `--policy`, `--reward` and `--baseline` may name, turned into a folder and
the version its replies are recorded under: the built-in model's name, the built-in
reward-model encoder's (training.encoder; for `train rm --base`), a registered version, a
training run folder (its `model/`), or any local model folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from core.store import Store, registry
from training.encoder import ENCODER, ENCODER_VERSION, encoder_folder
from training.runs import weights_digest
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
    if name == ENCODER:
        return ModelRef(encoder_folder(settings.cache_dir), ENCODER_VERSION)
    record = registry.find(store, name)
    if record is not None:
        return ModelRef(Path(record.path), record.version)
    path = Path(name).expanduser()
    if (path / "model" / "config.json").exists():
        path = path / "model"  # a run folder
    if not (path / "config.json").exists():
        raise ModelRefError(
            f"{name!r} is not {BUILTIN!r}, {ENCODER!r}, a registered version "
            "(replyloop model list), a training run folder or a model folder with a config.json"
        )
    # The registry keeps paths absolute with symbolic links as given: compare the same way.
    folder = Path(os.path.abspath(path))
    # A run trained again into the same folder registers a new version: the newest is it.
    for record in reversed(registry.list_models(store)):
        if record.path == str(folder):
            return ModelRef(folder, record.version)
    return ModelRef(folder, folder_version(path))


def run_version(run_root: Path, model_dir: Path) -> str:
    """A trained model's version: its run folder's name and a digest of its weights, so
    two runs in folders of the same name never share a version, and a run that is
    registered again (the same weights) keeps its own."""
    return f"{run_root.resolve().name}-{weights_digest(model_dir)[:8]}"
