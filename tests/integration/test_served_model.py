"""workers.serving in one process, on real SQLite and PostgreSQL and real tiny models: the
promoted model is picked up between batches (as `replyloop chat` does between messages),
the registry is read at most once a second, and a model that cannot load never stops the
serving one."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from sqlalchemy import event

from core.settings import Settings
from core.store import Store, registry
from workers.models import folder_version
from workers.serving import CHECK_EVERY_S, RETRY_FAILED_S, ServedModel
from workers.tiny_model import make_tiny_model


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = CHECK_EVERY_S) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("other") / "tiny-other", seed=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(store: Store, tiny_model: Path, tmp_path: Path, clock: Clock) -> ServedModel:
    settings = Settings(_env_file=None, model=str(tiny_model), cache_dir=tmp_path / "cache")
    return ServedModel(settings, lambda: store, clock)


def statements(store: Store) -> list[str]:
    """Every SQL statement sent on the store from now on."""
    sent: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    return sent


def test_promote_switches_between_batches_and_rollback_returns(
    store: Store, served: ServedModel, tiny_model: Path, other_model: Path, clock: Clock
) -> None:
    default = folder_version(tiny_model)
    first = served.engine()
    assert first.version == default
    registry.register(store, version="other-1", kind="sft", path=other_model, parent=default)
    registry.promote(store, "other-1")

    sent = statements(store)
    assert served.engine() is first  # checked less than a second ago: no query
    assert sent == []
    clock.tick()
    switched = served.engine()
    assert switched.version == "other-1" and switched is not first
    # three indexed one-row queries (the promoted model, the newest conversation, a running
    # canary), then nothing for a second however often it is asked
    assert len(sent) == 3 and "conversations" in sent[1] and "canaries" in sent[2]
    for _ in range(50):
        assert served.engine() is switched
    assert len(sent) == 3
    # the new model is the other folder's, not only a new name
    assert (
        switched.model.state_dict()["lm_head.weight"]
        .ne(first.model.state_dict()["lm_head.weight"])
        .any()
    )

    registry.rollback(store)
    clock.tick()
    assert served.engine().version == default


def test_a_model_that_cannot_load_leaves_the_current_one_serving(
    store: Store,
    served: ServedModel,
    tiny_model: Path,
    other_model: Path,
    tmp_path: Path,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gone = tmp_path / "gone"
    shutil.copytree(other_model, gone)
    registry.register(store, version="gone-1", kind="ppo", path=gone)
    current = served.engine()
    registry.promote(store, "gone-1")
    shutil.rmtree(gone)

    with caplog.at_level(logging.ERROR, logger="workers.serving"):
        for _ in range(3):
            clock.tick()
            assert served.engine() is current
        clock.tick(RETRY_FAILED_S)  # tried again, not logged again
        assert served.engine() is current
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"cannot load model gone-1 from {gone}")
    assert errors[0].endswith(f"still serving {folder_version(tiny_model)}")

    shutil.copytree(other_model, gone)  # the folder arrives on this machine after all
    clock.tick(CHECK_EVERY_S)
    assert served.engine() is current  # a minute has not passed since the last try
    clock.tick(RETRY_FAILED_S)
    assert served.engine().version == "gone-1"


def test_a_process_starting_with_a_broken_promotion_serves_its_own_model(
    store: Store, served: ServedModel, tiny_model: Path, tmp_path: Path
) -> None:
    registry.register(store, version="nowhere", kind="sft", path=tmp_path / "nowhere")
    registry.promote(store, "nowhere")
    assert served.engine().version == folder_version(tiny_model)
