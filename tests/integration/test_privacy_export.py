"""Exports name nobody: Slack, Telegram and WeCom group conversations, stored as their
adapters store them, exported in every format on real SQLite and PostgreSQL, hold no
platform id and no display name, and each person keeps one pseudonym in every export."""

from __future__ import annotations

import json
from pathlib import Path

from core.export import FORMATS, export
from core.store import Store
from tests.integration.group_chats import (
    GHOST,
    IDENTIFIERS,
    MIA,
    OMAR,
    SECRET,
    ZED,
    ZOE,
    Chats,
    group_chats,
    pseudonym,
    slack_message,
)


def export_to(chats: Chats, fmt: str, path: Path) -> str:
    with path.open("w", encoding="utf-8") as out:
        assert export(chats.store.engine, fmt, out, SECRET) > 0
    return path.read_text(encoding="utf-8")


def user_texts(raw: str, platform: str) -> list[str]:
    """The newest user message of each exported reply's prompt, in turn order."""
    rows = [json.loads(line) for line in raw.splitlines()]
    return [r["prompt"][-1]["content"] for r in rows if r["platform"] == platform][::2]


def test_no_export_holds_an_id_or_a_name(store: Store, tmp_path: Path) -> None:
    with group_chats(store) as chats:
        files = {fmt: export_to(chats, fmt, tmp_path / f"{fmt}.jsonl") for fmt in FORMATS}

    for fmt, text in files.items():
        found = [word for word in IDENTIFIERS if word in text]
        assert found == [], f"{fmt} export holds {found}"
    ann, kai, ben = (pseudonym("slack", p) for p in ("U0ANNLEE", "U0KAISATO", "U0BENODE"))
    ghost, zoe = pseudonym("slack", GHOST), pseudonym("slack", ZOE)
    assert user_texts(files["raw"], "slack") == [
        f"{ann}: @{kai}, @{ben}: lunch?",
        f"{ghost}: @{ann} count me in",  # users.info did not know them: the id stood in
        f"@{zoe}: ask @{kai}",  # Slack's markup, stored before names were read
        f"{kai}: noon",
    ]
    mia, omar, zed = (pseudonym("telegram", p["id"]) for p in (MIA, OMAR, ZED))
    assert user_texts(files["raw"], "telegram") == [
        f"{mia}: ask @{omar} about @{zed}",  # a text mention, and a username
        f"{omar}: what does @{mia} say?",
        f"{zed}: me too",
        f"{omar}: is @{mia} around?",
        "hello there",
    ]
    zhang, li = pseudonym("wecom", "zhangsan"), pseudonym("wecom", "lisi")
    assert user_texts(files["raw"], "wecom") == [
        f"{zhang}: 巴黎在哪里？",
        f"{li}: 我同意 @{zhang} 的问题",
    ]
    for said in (f"@{kai}.", f"@{mia}.", f"@{zhang}."):  # the reply's text is renamed too
        assert f"Sounds good, {said}" in files["kto"]
    assert f"{ann}: @{kai}" in files["pairs"]


def test_a_person_keeps_one_pseudonym_across_exports(store: Store, tmp_path: Path) -> None:
    with group_chats(store) as chats:
        before = export_to(chats, "raw", tmp_path / "before.jsonl")
        later = slack_message(
            store, chats.slack_names, "U0ANNLEE", "<@UBOT> new thread", "9.0", "9.0"
        )
        chats.rate("slack", later, ("T1:U0KAISATO", "T1:U0GHOST"))
        after = export_to(chats, "kto", tmp_path / "after.jsonl")

    ann = pseudonym("slack", "U0ANNLEE")
    assert f"{ann}: @" in before and f"{ann}: new thread" in after
    rows = [json.loads(line) for line in after.splitlines()]
    assert sum(ann in json.dumps(r) for r in rows) >= 3  # her rows of both threads
