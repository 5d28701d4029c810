"""A run folder: what every `replyloop train ...` and `replyloop eval` writes.

    OUT/run.json          kind, parent, data sources (with digests), held-out split,
                          the reward model a PPO run trained against, settings, seed,
                          metrics
    OUT/metrics.jsonl     one JSON object a logged step: {"step": n, "time": s, ...}
    OUT/checkpoints/      resumable state (a run started again on OUT picks up the newest)
    OUT/model/            the finished model and tokenizer (what the registry points at)
    OUT/adapter/          a LoRA run's adapter, whose merge into its base is OUT/model/
    OUT/tensorboard/      event files of the logged figures, with --report-to tensorboard

Writing is append-only or atomic (write, then rename), so a run killed mid-way leaves a
folder that can be resumed, never a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DataSource:
    """A file (or a packaged data set) a run read, pinned by digest."""

    name: str
    rows: int
    sha256: str | None = None  # None for packaged data (the package version names it)

    @staticmethod
    def of_file(path: Path, rows: int) -> DataSource:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return DataSource(str(path), rows, digest.hexdigest())


@dataclass(frozen=True)
class HeldOut:
    """The held-out split a run's data was taken with. `replyloop eval` judges on held-out
    prompts: at another percentage some of them could be rows this run trained on."""

    percent: float
    key: str  # what the stable hash was taken of (training.data.sources.Split.key)


def weights_digest(model_dir: Path) -> str:
    """sha256 of a model folder's weight files: the same weights under another folder or
    version name are the same model."""
    digest = hashlib.sha256()
    for file in sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin")):
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class TrainedAgainst:
    """The reward model a PPO run optimised: `replyloop eval` refuses it as the judge of
    that run, since a policy scores well under the very model it was pushed up against
    whether or not its replies got better (reward hacking)."""

    path: str  # absolute, as given
    weights: str  # weights_digest of the folder

    @staticmethod
    def of(model_dir: Path) -> TrainedAgainst:
        return TrainedAgainst(os.path.abspath(model_dir), weights_digest(model_dir))


def run_manifest(model_dir: Path) -> dict[str, Any] | None:
    """run.json of the run whose model is `model_dir` (a run folder's model/); None for a
    model no run of ours made."""
    manifest = model_dir.parent / "run.json"
    if model_dir.name != "model" or not manifest.is_file():
        return None
    loaded: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
    return loaded


def recorded_held_out(model_dir: Path) -> HeldOut | None:
    """The split recorded by the run whose model is `model_dir`; None for a model no run
    of ours made, or a run from before splits were recorded."""
    found = (run_manifest(model_dir) or {}).get("held_out")
    return HeldOut(float(found["percent"]), str(found["key"])) if found else None


def recorded_reward_model(model_dir: Path) -> TrainedAgainst | None:
    """The reward model the run whose model is `model_dir` trained against; None for
    other runs, models no run of ours made, and PPO runs from before it was recorded."""
    found = (run_manifest(model_dir) or {}).get("reward_model")
    return TrainedAgainst(str(found["path"]), str(found["weights"])) if found else None


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


LATER_FIELDS = ("held_out", "reward_model")  # run.json fields older runs lack


class RunFolder:
    def __init__(self, root: Path, held_out: HeldOut | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        # Set by whoever split the data, before the trainer calls start().
        self.held_out = held_out
        self.reward_model: TrainedAgainst | None = None  # set by PPO before start()
        self.lora: dict[str, Any] | None = None  # set by a LoRA run before start()

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def manifest_path(self) -> Path:
        return self.root / "run.json"

    def log(self, step: int, **values: float) -> None:
        """Append one step's metrics (and the seconds since this process started the run)."""
        row = {"step": step, "time": round(time.monotonic() - self.started, 3), **values}
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        with self.metrics_path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def start(
        self,
        kind: str,
        parent: str | None,
        data: list[DataSource],
        settings: Any,
        seed: int,
    ) -> None:
        """Record what the run is (kept across resumes: a resumed run must match)."""
        manifest = self.manifest()
        record = {
            "kind": kind,
            "parent": parent,
            "data": [asdict(source) for source in data],
            "settings": (
                asdict(settings)
                if is_dataclass(settings) and not isinstance(settings, type)
                else dict(settings)
            ),
            "seed": seed,
        }
        if self.held_out is not None:
            record["held_out"] = asdict(self.held_out)
        if self.reward_model is not None:
            record["reward_model"] = asdict(self.reward_model)
        if self.lora is not None:
            record["lora"] = self.lora
        # A run started before these were recorded resumes whatever they were.
        compared = [k for k in record if k not in LATER_FIELDS or k in manifest]
        if manifest and (
            {k: manifest.get(k) for k in compared} != {k: record[k] for k in compared}
            # absent on both sides for a full fine-tune: LoRA and full runs never mix
            or manifest.get("lora") != record.get("lora")
        ):
            raise RunMismatch(
                f"{self.root} holds a different {manifest.get('kind')} run (other data or "
                "settings); give a new --out folder, or delete this one to start over"
            )
        now = datetime.now(UTC).isoformat()
        started = manifest.get("started_at", now) if manifest else now
        _write_atomic(
            self.manifest_path,
            json.dumps({**record, "started_at": started, "resumed_at": now}, indent=2),
        )

    def finish(self, metrics: dict[str, float]) -> None:
        manifest = self.manifest()
        manifest.update(metrics=metrics, finished_at=datetime.now(UTC).isoformat())
        _write_atomic(self.manifest_path, json.dumps(manifest, indent=2))

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        loaded: dict[str, Any] = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return loaded

    def latest_checkpoint(self) -> Path | None:
        """The newest complete `checkpoints/checkpoint-N` (TRL's and ours alike)."""
        if not self.checkpoints.exists():
            return None
        found = [
            (int(path.name.split("-")[-1]), path)
            for path in self.checkpoints.glob("checkpoint-*")
            if path.is_dir() and path.name.split("-")[-1].isdigit()
        ]
        return max(found)[1] if found else None


# What a run writes before its first step: nothing a person would want kept.
BEFORE_TRAINING = {"run.json", "run.json.partial"}


@contextmanager
def removed_if_failed_before_training(root: Path) -> Iterator[None]:
    """Around a command that makes the run folder `root` (and any missing folders above
    it): if the command fails before the run wrote anything but its run.json (a bad or
    empty data file, a model that does not load), the folders it made are removed, so a
    failed first try leaves no empty --out behind. A folder that was there before is
    never removed, nor one holding metrics, a checkpoint or a model."""
    made = _first_missing(root.absolute())
    try:
        yield
    except BaseException:
        if made is not None and made.is_dir() and not _holds_work(made):
            shutil.rmtree(made)
        raise


def _first_missing(path: Path) -> Path | None:
    """The topmost folder of `path` (itself included) that does not exist yet."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _holds_work(folder: Path) -> bool:
    return any(p.is_file() and p.name not in BEFORE_TRAINING for p in folder.rglob("*"))


class RunMismatch(Exception):
    """--out names a folder that holds another run."""


class HeldOutMismatch(RunMismatch):
    """An evaluation asked for another held-out percentage than a model's run recorded."""
