"""core.store.registry on real SQLite and real PostgreSQL: register, get, list, promote,
rollback, and the errors a person or a trainer meets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.errors import ModelConflict, NothingToRollBack, UnknownModel
from core.store import Store
from core.store import registry as r
from core.types import DataSource, Switch

DATA: list[DataSource] = [{"name": "votes.kto.jsonl", "rows": 812, "sha256": "ab" * 32}]


def add(store: Store, version: str, tmp_path: Path, kind: str = "sft") -> None:
    r.register(store, version=version, kind=kind, path=tmp_path / version)


def test_register_then_get_and_list(store: Store, tmp_path: Path) -> None:
    made = r.register(
        store,
        version="sft-1",
        kind="sft",
        path=tmp_path / "sft-1",
        parent="smollm2-135m-instruct-q4_1",
        data=DATA,
        settings={"learning_rate": 5e-5, "epochs": 1},
        metrics={"eval_loss": 1.93},
    )
    assert made.path == str(tmp_path / "sft-1")
    assert made.created_at.tzinfo is not None
    assert r.get(store, "sft-1") == made
    assert made.data == DATA and made.settings == {"learning_rate": 5e-5, "epochs": 1}
    assert made.as_dict()["metrics"] == {"eval_loss": 1.93}
    r.register(store.engine, version="ppo-1", kind="ppo", path=tmp_path / "ppo-1", parent="sft-1")
    assert [m.version for m in r.list_models(store)] == ["sft-1", "ppo-1"]
    assert r.get(store, "ppo-1").parent == "sft-1"


def test_register_is_idempotent_on_version_and_path(store: Store, tmp_path: Path) -> None:
    first = r.register(store, version="sft-1", kind="sft", path=tmp_path / "m", metrics={"a": 1})
    again = r.register(store, version="sft-1", kind="sft", path=tmp_path / "m", metrics={"a": 2})
    assert again == first  # the record made first stands
    assert len(r.list_models(store)) == 1


def test_register_the_same_version_with_another_folder_is_refused(
    store: Store, tmp_path: Path
) -> None:
    r.register(store, version="sft-1", kind="sft", path=tmp_path / "a")
    with pytest.raises(ModelConflict, match="registered with the folder .*/a, not .*/b"):
        r.register(store, version="sft-1", kind="sft", path=tmp_path / "b")
    assert r.get(store, "sft-1").path == str(tmp_path / "a")


def test_register_refuses_an_unknown_kind(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind 'tea' is not one of"):
        r.register(store, version="x", kind="tea", path=tmp_path)
    assert r.list_models(store) == []


def test_unknown_versions(store: Store) -> None:
    with pytest.raises(UnknownModel, match="no model 'nope' is registered"):
        r.get(store, "nope")
    assert r.find(store, "nope") is None
    with pytest.raises(UnknownModel):
        r.promote(store, "nope")
    assert r.promoted(store) is None and r.history(store) == []


def test_promote_and_rollback_walk_back_through_the_history(store: Store, tmp_path: Path) -> None:
    for version in ("a", "b", "c"):
        add(store, version, tmp_path)
    assert r.promoted(store) is None
    assert r.promote(store, "a") == Switch(None, "a")
    assert r.promote(store, "b") == Switch("a", "b")
    assert r.promote(store, "b") == Switch("b", "b")  # already promoted: nothing written
    assert r.promote(store, "c") == Switch("b", "c")
    promoted = r.promoted(store)
    assert promoted is not None and promoted == r.get(store, "c")

    assert r.rollback(store) == Switch("c", "b")
    assert r.rollback(store) == Switch("b", "a")  # not back to c: each rollback goes further
    assert r.promote(store, "c") == Switch("a", "c")
    assert r.rollback(store) == Switch("c", "a")
    # past the first promotion: REPLYLOOP_MODEL again
    assert r.rollback(store) == Switch("a", None)
    assert r.promoted(store) is None
    with pytest.raises(NothingToRollBack, match="nothing is promoted"):
        r.rollback(store)

    rows = [(p.version, p.action) for p in r.history(store)]
    assert rows == [
        ("a", "promote"),
        ("b", "promote"),
        ("c", "promote"),
        ("b", "rollback"),
        ("a", "rollback"),
        ("c", "promote"),
        ("a", "rollback"),
        (None, "rollback"),
    ]
    assert all(p.at.tzinfo is not None for p in r.history(store))
    assert r.promote(store, "b") == Switch(None, "b")  # promoting works again after that


def test_rollback_with_no_history(store: Store) -> None:
    with pytest.raises(NothingToRollBack):
        r.rollback(store)
    assert r.history(store) == []


def test_a_reward_model_cannot_be_promoted(store: Store, tmp_path: Path) -> None:
    add(store, "rm-1", tmp_path, kind="rm")
    with pytest.raises(ModelConflict, match="reward model"):
        r.promote(store, "rm-1")
    assert r.promoted(store) is None


def test_concurrent_promotions_each_take_their_own_place(store: Store, tmp_path: Path) -> None:
    """Writers at once collide on the history's next id and try again: none is lost."""
    versions = [f"m{i}" for i in range(6)]
    for version in versions:
        add(store, version, tmp_path)
    with ThreadPoolExecutor(max_workers=6) as pool:
        switches = list(pool.map(lambda v: r.promote(store, v), versions))
    history = r.history(store)
    assert sorted(p.version or "" for p in history) == versions
    # each promotion saw the one written just before it
    befores = {s.before for s in switches}
    assert befores == {None, *(p.version for p in history[:-1])}
    for _ in versions:
        r.rollback(store)
    assert r.promoted(store) is None
