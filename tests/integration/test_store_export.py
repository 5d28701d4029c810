"""core.export on real SQLite and real PostgreSQL: the rows a trainer will read."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from core.anonymize import conversation_pseudonym, person_pseudonym, rater_hash
from core.export import ExportFilter, count_rated, export
from core.store import Store
from core.store.people import remember_name
from core.store.schema import turns, votes
from core.types import ChatMessage, Turn, Vote

SECRET = b"export-secret"


@dataclass(frozen=True)
class Rated:
    tie: Turn  # reply to q1, v1: one 👍 and one 👎
    retried: Turn  # its sibling, v2: one 👍
    disliked: Turn  # reply to q2, v1: one 👎
    retracted: Turn  # reply to q3, v1: 👍 then retracted, so not rated


def prompt_of(text: str) -> list[ChatMessage]:
    return [{"role": "system", "content": "Be kind."}, {"role": "user", "content": text}]


@pytest.fixture
def rated(store: Store) -> Rated:
    conversation = store.open_conversation("slack", "C1")

    def turn(message_id: int, key: str, completion: str, model: str) -> Turn:
        text = store.message(message_id).text
        return store.add_turn(
            conversation, message_id, key, prompt_of(text), completion, model, {"top_p": 0.9}, {}
        )

    q1 = store.add_message(conversation, "U_alice", "q1")
    tie = turn(q1, "k1", "a1 first", "v1")
    retried = turn(q1, "k2", "a1 retried", "v2")
    q2 = store.add_message(conversation, "U_alice", "q2")
    disliked = turn(q2, "k3", "a2", "v1")
    q3 = store.add_message(conversation, "U_alice", "q3")
    retracted = turn(q3, "k4", "a3", "v1")
    store.vote(tie.id, "U_alice", Vote.UP, "reaction")
    store.vote(tie.id, "U_bob", Vote.DOWN, "reaction", reasons={"tags": ["wrong"]})
    store.vote(retried.id, "U_alice", Vote.UP, "reaction")
    store.vote(disliked.id, "U_bob", Vote.DOWN, "reaction")
    store.vote(retracted.id, "U_alice", Vote.UP, "reaction")
    store.vote(retracted.id, "U_alice", Vote.RETRACTED, "reaction")
    return Rated(tie, retried, disliked, retracted)


def run_export(
    store: Store, fmt: str, where: ExportFilter | None = None
) -> tuple[list[dict[str, Any]], list[int]]:
    out = io.StringIO()
    calls: list[int] = []
    written = export(store.engine, fmt, out, SECRET, where, progress=calls.append)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert written == len(rows)
    return rows, calls


def raters(*votes: tuple[str, int, Any]) -> list[dict[str, Any]]:
    return [
        {"rater": rater_hash(SECRET, "slack", r), "vote": v, "reasons": why} for r, v, why in votes
    ]


def conversation(turn: Turn) -> str:
    return conversation_pseudonym(SECRET, "slack", turn.conversation_id)


def test_raw_export(store: Store, rated: Rated) -> None:
    rows, calls = run_export(store, "raw")

    def raw(turn: Turn, up: int, down: int, cast: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "turn_id": turn.id,
            "conversation_id": conversation(turn),
            "platform": "slack",
            "prompt": turn.prompt,
            "completion": turn.completion,
            "model_version": turn.model_version,
            "generation_settings": {"top_p": 0.9},
            "up": up,
            "down": down,
            "raters": cast,
            "created_at": turn.created_at.isoformat(),
        }

    assert rows == [
        raw(rated.tie, 1, 1, raters(("U_alice", 1, None), ("U_bob", -1, {"tags": ["wrong"]}))),
        raw(rated.retried, 1, 0, raters(("U_alice", 1, None))),
        raw(rated.disliked, 0, 1, raters(("U_bob", -1, None))),
    ]
    assert "U_alice" not in json.dumps(rows) and "U_bob" not in json.dumps(rows)
    assert calls == [3]


def test_kto_export_leaves_ties_out(store: Store, rated: Rated) -> None:
    rows, calls = run_export(store, "kto")
    assert rows == [
        {
            "prompt": prompt_of("q1"),
            "completion": [{"role": "assistant", "content": "a1 retried"}],
            "label": True,
            "conversation_id": conversation(rated.retried),
            "model_version": "v2",
            "up": 1,
            "down": 0,
        },
        {
            "prompt": prompt_of("q2"),
            "completion": [{"role": "assistant", "content": "a2"}],
            "label": False,
            "conversation_id": conversation(rated.disliked),
            "model_version": "v1",
            "up": 0,
            "down": 1,
        },
    ]
    assert calls == [3]


def test_pairs_export_pairs_only_siblings(store: Store, rated: Rated) -> None:
    # "a1 retried" (+1) and "a2" (-1) differ most, but answer different messages: no pair.
    rows, calls = run_export(store, "pairs")
    assert rows == [
        {
            "prompt": prompt_of("q1"),
            "chosen": [{"role": "assistant", "content": "a1 retried"}],
            "rejected": [{"role": "assistant", "content": "a1 first"}],
            "conversation_id": conversation(rated.tie),
            "chosen_model_version": "v2",
            "rejected_model_version": "v1",
            "chosen_up": 1,
            "chosen_down": 0,
            "rejected_up": 1,
            "rejected_down": 1,
        }
    ]
    assert calls == [3]


@pytest.mark.parametrize(
    ("where", "turn_ids"),
    [
        (ExportFilter(), ["tie", "retried", "disliked"]),
        (ExportFilter(model_version="v1"), ["tie", "disliked"]),
        (ExportFilter(model_version="v2"), ["retried"]),
        (ExportFilter(model_version="nope"), []),
    ],
)
def test_filter_by_model_version(
    store: Store, rated: Rated, where: ExportFilter, turn_ids: list[str]
) -> None:
    rows, calls = run_export(store, "raw", where)
    assert [row["turn_id"] for row in rows] == [getattr(rated, name).id for name in turn_ids]
    assert count_rated(store.engine, where) == len(turn_ids) == sum(calls)


def test_filter_since(store: Store, rated: Rated) -> None:
    where = ExportFilter(since=rated.retried.created_at)
    rows, calls = run_export(store, "raw", where)
    assert [row["turn_id"] for row in rows] == [rated.retried.id, rated.disliked.id]
    assert count_rated(store.engine, where) == 2 == sum(calls)
    assert run_export(store, "pairs", where)[0] == []  # its sibling is older than `since`
    later = ExportFilter(since=rated.retracted.created_at + timedelta(seconds=1))
    assert run_export(store, "kto", later) == ([], [])
    assert count_rated(store.engine, later) == 0


def test_filter_since_in_another_timezone(store: Store, rated: Rated) -> None:
    plus_five = timezone(timedelta(hours=5))
    since = (rated.disliked.created_at - timedelta(microseconds=1)).astimezone(plus_five)
    assert count_rated(store.engine, ExportFilter(since=since)) == 1
    rows, _ = run_export(store, "raw", ExportFilter(since=since))
    assert [row["turn_id"] for row in rows] == [rated.disliked.id]


def test_progress_is_reported_every_500_rated_replies(store: Store) -> None:
    conversation = store.open_conversation("telegram", "42")
    message_id = store.add_message(conversation, "7", "q")
    now = datetime(2026, 11, 22, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(
            turns.insert(),
            [
                dict(conversation_id=conversation, message_id=message_id, request_key=f"k{i}",
                     prompt=prompt_of("q"), completion=f"a{i}", model_version="v1",
                     settings={}, timings={}, created_at=now)
                for i in range(1001)
            ],
        )  # fmt: skip
        ids = [row.id for row in conn.execute(turns.select().order_by(turns.c.id))]
        conn.execute(
            votes.insert(),
            [dict(turn_id=i, rater="7", value=1, updated_at=now) for i in ids],
        )
    assert count_rated(store.engine, ExportFilter()) == 1001
    for fmt in ("raw", "kto", "pairs"):
        rows, calls = run_export(store, fmt)
        assert calls == [500, 500, 1], fmt
        assert len(rows) == {"raw": 1001, "kto": 1001, "pairs": 0}[fmt]


def test_unknown_format_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="raw, kto, pairs"):
        export(store.engine, "csv", io.StringIO(), SECRET)


def test_every_format_carries_pseudonyms_for_the_names_the_store_knows(store: Store) -> None:
    remember_name(store, "slack", "U7", "Kai")
    remember_name(store, "slack", "U7", "Kai")  # a second process resolving them: no error
    remember_name(store, "slack", "U7", "Kai S")  # renamed: the old name stays known
    remember_name(store, "slack", "U8", "Ben Ode")
    conversation = store.open_conversation("slack", "C9")
    said = store.add_message(conversation, "U8", "Ben Ode: @Kai S or @Kai, noon?")
    prompt = prompt_of("Ben Ode: @Kai S or @Kai, noon?")
    liked = store.add_turn(conversation, said, "n1", prompt, "Yes @Ben Ode.", "v1", {}, {})
    disliked = store.add_turn(conversation, said, "n2", prompt, "No.", "v1", {}, {})
    store.vote(liked.id, "U7", Vote.UP, "reaction")
    store.vote(disliked.id, "U7", Vote.DOWN, "reaction")

    kai, ben = (person_pseudonym(SECRET, "slack", p) for p in ("U7", "U8"))
    exported = prompt_of(f"{ben}: @{kai} or @{kai}, noon?")
    raw, _ = run_export(store, "raw")
    assert [(r["prompt"], r["completion"]) for r in raw] == [
        (exported, f"Yes @{ben}."),
        (exported, "No."),
    ]
    kto, _ = run_export(store, "kto")
    assert [(r["prompt"], r["completion"][0]["content"]) for r in kto] == [
        (exported, f"Yes @{ben}."),
        (exported, "No."),
    ]
    pairs, _ = run_export(store, "pairs")
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in pairs] == [
        (
            exported,
            [{"role": "assistant", "content": f"Yes @{ben}."}],
            [{"role": "assistant", "content": "No."}],
        )
    ]
    assert store.turn(liked.id).prompt == prompt  # what the model saw keeps the names
