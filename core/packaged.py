"""Models that ship inside an installed wheel (the default model's GGUF, the reward-model
encoder's folder): their files, found without importing the wheel's package (whose own
dependencies are not installed), and the cache folder each is made into once."""

from __future__ import annotations

import fcntl
import importlib.metadata
from collections.abc import Callable
from pathlib import Path


def packaged_file(dist: str, suffix: str) -> Path | None:
    """The first file of the installed distribution `dist` whose path ends with `suffix`,
    or None if it holds none. Raises importlib.metadata.PackageNotFoundError if `dist` is
    not installed."""
    found = importlib.metadata.distribution(dist)
    for file in found.files or []:
        if str(file).endswith(suffix):
            return Path(str(found.locate_file(file)))
    return None


def made_once(out: Path, make: Callable[[], object]) -> Path:
    """The model folder `out`, made by `make` first if it has no config.json yet. Several
    processes may start at once on one machine: one makes it, the rest wait for it (a lock
    file beside it), and none makes it twice."""
    if not (out / "config.json").exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out.parent / f".{out.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (out / "config.json").exists():
                make()
    return out
