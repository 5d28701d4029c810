"""core.export.rows: a rated reply in, the exact JSON object of each export format out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.anonymize import conversation_pseudonym, person_pseudonym
from core.export.pseudonyms import Pseudonyms, Renamer
from core.export.rows import CastVote, RatedTurn, kto_row, pair_rows, raw_row
from core.types import ChatMessage

SECRET = b"test-secret"
PROMPT: list[ChatMessage] = [
    {"role": "system", "content": "Be kind."},
    {"role": "user", "content": "What is RLHF?"},
]
SETTINGS = {"max_new_tokens": 48, "temperature": 0.7}
WHEN = datetime(2026, 11, 22, 15, 30, 0, 250000, tzinfo=UTC)
CONVERSATION = conversation_pseudonym(SECRET, "slack", 3)


def rated(
    turn_id: int,
    completion: str,
    *votes: tuple[str, int],
    message_id: int = 7,
    platform: str = "slack",
    prompt: list[ChatMessage] = PROMPT,
    reasons: dict[str, Any] | None = None,
    model: str = "sft-v1",
) -> RatedTurn:
    return RatedTurn(
        turn_id=turn_id,
        conversation_id=3,
        message_id=message_id,
        platform=platform,
        prompt=prompt,
        completion=completion,
        model_version=model,
        settings=SETTINGS,
        created_at=WHEN,
        votes=tuple(CastVote(rater, value, reasons) for rater, value in votes),
    )


def test_raw_row_is_exact_and_pseudonymous() -> None:
    turn = rated(11, "Learning from votes.", ("U_alice", 1), ("U_bob", -1))
    assert raw_row(turn, SECRET) == {
        "turn_id": 11,
        "conversation_id": CONVERSATION,
        "platform": "slack",
        "prompt": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "What is RLHF?"},
        ],
        "completion": "Learning from votes.",
        "model_version": "sft-v1",
        "generation_settings": {"max_new_tokens": 48, "temperature": 0.7},
        "up": 1,
        "down": 1,
        "raters": [
            {"rater": "0644c0ac17789aa39a9ac460", "vote": 1, "reasons": None},
            {"rater": "1d09e2af334c6b68f8aa0af1", "vote": -1, "reasons": None},
        ],
        "created_at": "2026-11-22T15:30:00.250000+00:00",
    }


def test_raw_row_keeps_reasons_and_hashes_per_platform() -> None:
    turn = rated(12, "Hi.", ("U_alice", -1), platform="telegram", reasons={"tags": ["rude"]})
    row = raw_row(turn, SECRET)
    assert row["raters"] == [
        {"rater": "0a19e37f9dfb2705f0a8cef9", "vote": -1, "reasons": {"tags": ["rude"]}}
    ]
    assert (row["up"], row["down"]) == (0, 1)


def test_every_format_names_the_conversation_by_one_pseudonym() -> None:
    """The same conversation in raw, kto and pairs rows, under the same key, and no trace
    of the store's id; another platform's conversation 3 is another conversation."""
    liked, disliked = rated(61, "Yes.", ("U_alice", 1)), rated(62, "No.", ("U_alice", -1))
    kto = kto_row(liked, SECRET)
    assert kto is not None
    (pair,) = pair_rows([liked, disliked], SECRET)
    ids = {raw_row(liked, SECRET)["conversation_id"], kto["conversation_id"]}
    assert ids == {pair["conversation_id"]} == {CONVERSATION}
    assert conversation_pseudonym(SECRET, "telegram", 3) != CONVERSATION
    assert conversation_pseudonym(b"another key", "slack", 3) != CONVERSATION
    assert len(CONVERSATION) == 24 and not CONVERSATION.isdigit()


def test_raw_row_never_contains_the_clear_rater_id() -> None:
    turn = rated(13, "x", ("U_alice", 1), ("U_bob", 1))
    dumped = json.dumps(raw_row(turn, SECRET))
    assert "U_alice" not in dumped
    assert "U_bob" not in dumped


def test_kto_row_liked() -> None:
    assert kto_row(rated(21, "Good.", ("U_alice", 1), ("U_bob", 1), ("U_carol", -1)), SECRET) == {
        "prompt": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "What is RLHF?"},
        ],
        "completion": [{"role": "assistant", "content": "Good."}],
        "label": True,
        "conversation_id": CONVERSATION,
        "model_version": "sft-v1",
        "up": 2,
        "down": 1,
    }


def test_kto_row_disliked() -> None:
    assert kto_row(rated(22, "Bad.", ("U_alice", -1)), SECRET) == {
        "prompt": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "What is RLHF?"},
        ],
        "completion": [{"role": "assistant", "content": "Bad."}],
        "label": False,
        "conversation_id": CONVERSATION,
        "model_version": "sft-v1",
        "up": 0,
        "down": 1,
    }


def test_kto_leaves_ties_out() -> None:
    assert kto_row(rated(23, "Meh.", ("U_alice", 1), ("U_bob", -1)), SECRET) is None
    assert kto_row(rated(24, "Unrated."), SECRET) is None


def test_pairs_between_siblings_with_different_net_votes_higher_chosen() -> None:
    other_prompt: list[ChatMessage] = [{"role": "user", "content": "What is RLHF?"}]
    liked = rated(31, "Liked.", ("U_alice", 1))
    disliked = rated(32, "Disliked.", ("U_alice", -1), prompt=other_prompt)
    also_liked = rated(33, "Also liked.", ("U_bob", 1), model="ppo-v2")
    assert list(pair_rows([liked, disliked, also_liked], SECRET)) == [
        {
            "prompt": [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": "What is RLHF?"},
            ],
            "chosen": [{"role": "assistant", "content": "Liked."}],
            "rejected": [{"role": "assistant", "content": "Disliked."}],
            **provenance("sft-v1", (1, 0), "sft-v1", (0, 1)),
        },
        {
            "prompt": [{"role": "user", "content": "What is RLHF?"}],
            "chosen": [{"role": "assistant", "content": "Also liked."}],
            "rejected": [{"role": "assistant", "content": "Disliked."}],
            **provenance("ppo-v2", (1, 0), "sft-v1", (0, 1)),
        },
    ]


def provenance(
    chosen: str, chosen_votes: tuple[int, int], rejected: str, rejected_votes: tuple[int, int]
) -> dict[str, Any]:
    """A pairs row's fields beside TRL's: where each reply came from and its votes."""
    return {
        "conversation_id": CONVERSATION,
        "chosen_model_version": chosen,
        "rejected_model_version": rejected,
        "chosen_up": chosen_votes[0],
        "chosen_down": chosen_votes[1],
        "rejected_up": rejected_votes[0],
        "rejected_down": rejected_votes[1],
    }


def test_pairs_order_by_net_not_by_position() -> None:
    worse = rated(41, "Worse.", ("U_alice", 1), ("U_bob", -1))  # net 0
    better = rated(42, "Better.", ("U_alice", 1), ("U_bob", 1), ("U_carol", -1))  # net +1
    assert list(pair_rows([worse, better], SECRET)) == [
        {
            "prompt": [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": "What is RLHF?"},
            ],
            "chosen": [{"role": "assistant", "content": "Better."}],
            "rejected": [{"role": "assistant", "content": "Worse."}],
            **provenance("sft-v1", (2, 1), "sft-v1", (1, 1)),
        }
    ]


def test_no_pairs_from_ties_or_a_single_reply() -> None:
    tie = [rated(51, "a", ("U_alice", 1)), rated(52, "b", ("U_bob", 1))]
    assert list(pair_rows(tie, SECRET)) == []
    assert list(pair_rows([rated(53, "only", ("U_alice", -1))], SECRET)) == []
    assert list(pair_rows([], SECRET)) == []


# -- people's names become pseudonyms (core.export.pseudonyms) --------------------------------

NAMED: list[ChatMessage] = [
    {"role": "system", "content": "Be kind. Will you help?"},
    {"role": "user", "content": "Kai: lunch at noon?"},
    {"role": "assistant", "content": "Sure, @Kai."},
    {"role": "user", "content": "Ben Ode: @Kai noon works, will @Ben join?"},
]
KNOWN = {"slack": {"Kai": "U7", "Ben Ode": "U8", "Ben": "U5", "Will": "U6"}}


def pseudonym(person: str) -> str:
    return person_pseudonym(SECRET, "slack", person)


def test_renamer_replaces_only_the_stored_forms_longest_name_first() -> None:
    rename = Renamer({"Kai": "P7", "Ben": "P5", "Ben Ode": "P8", "Will": "P6"})
    assert rename("Ben Ode: @Ben Ode and @Ben, not Ben, not @Benji; @Kai.") == (
        "P8: @P8 and @P5, not Ben, not @Benji; @P7."
    )
    assert rename("Will: I will see Will") == "P6: I will see Will"  # a word, not a name
    assert rename("said Kai: no") == "said Kai: no"  # "Kai: " opens no message here
    assert rename("Kai:no") == "Kai:no"  # the stored form has a space
    assert rename("mail kai@example.com or @kai") == "mail kai@example.com or @kai"  # case


def test_renamer_takes_names_as_text_not_as_patterns() -> None:
    rename = Renamer({"J.R. (Bob)": "P1", "a+": "P2"})
    assert rename("J.R. (Bob): @a+ @aa JxR (Bob)") == "P1: @P2 @aa JxR (Bob)"


def test_every_text_of_a_turn_is_renamed_and_each_person_keeps_one_pseudonym() -> None:
    kai, ben = pseudonym("U7"), pseudonym("U8")
    assert len({kai, ben, pseudonym("U5")}) == 3 and kai.startswith("person-")
    turn = rated(1, "@Ben Ode, @Kai said noon.", ("U2", 1), prompt=NAMED)
    renamed = Pseudonyms(KNOWN, SECRET).turn(turn)
    assert [m["content"] for m in renamed.prompt] == [
        "Be kind. Will you help?",
        f"{kai}: lunch at noon?",
        f"Sure, @{kai}.",
        f"{ben}: @{kai} noon works, will @{pseudonym('U5')} join?",
    ]
    assert [m["role"] for m in renamed.prompt] == [m["role"] for m in NAMED]
    assert renamed.completion == f"@{ben}, @{kai} said noon."
    assert turn.prompt == NAMED  # the stored turn is not changed
    row = kto_row(renamed, SECRET)
    assert row is not None and "Kai" not in json.dumps(row) and "Ben" not in json.dumps(row)


def test_names_are_replaced_only_on_their_own_platform() -> None:
    turn = rated(1, "hi @Kai", ("U2", 1), platform="telegram", prompt=NAMED)
    assert Pseudonyms(KNOWN, SECRET).turn(turn) == turn


def test_another_key_gives_other_pseudonyms() -> None:
    assert pseudonym("U7") != person_pseudonym(b"another key", "slack", "U7")
    assert pseudonym("U7") != person_pseudonym(SECRET, "telegram", "U7")


def test_ids_in_clear_become_the_same_pseudonym_as_the_name() -> None:
    prompt: list[ChatMessage] = [
        {"role": "user", "content": "U5: ask <@U7> and <@U404|gone>, or @U8"},
        {"role": "user", "content": "U7 said U5: no"},  # ids as plain words: the limit
    ]
    renamed = Pseudonyms(KNOWN, SECRET).turn(rated(1, "<@U8>: ok", ("U2", 1), prompt=prompt))
    assert [m["content"] for m in renamed.prompt] == [
        f"{pseudonym('U5')}: ask @{pseudonym('U7')} and @{pseudonym('U404')}, or "
        f"@{pseudonym('U8')}",
        "U7 said U5: no",
    ]
    assert renamed.completion == f"@{pseudonym('U8')}: ok"


def test_slack_markup_is_renamed_where_no_name_is_known() -> None:
    turn = rated(1, "hi <@U7>", ("U2", 1), platform="telegram")
    telegram = person_pseudonym(SECRET, "telegram", "U7")
    assert Pseudonyms(KNOWN, SECRET).turn(turn).completion == f"hi @{telegram}"
