"""Files that ship inside an installed wheel (the default model's GGUF, the reward-model
encoder's folder), found without importing the wheel's package (whose own dependencies are
not installed)."""

from __future__ import annotations

import importlib.metadata
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
