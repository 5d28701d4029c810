"""Who the Telegram bot serves (bots.telegram.access): the chat and user allowlists, the
admins' commands, the refusals, and what /stats says (bots.telegram.stats). Exact values."""

from __future__ import annotations

import pytest

from bots.telegram.access import NOT_ALLOWED, Access, admins_only, id_numbers
from bots.telegram.settings import TelegramSettings
from bots.telegram.stats import NO_REPLIES, stats_text
from bots.telegram.translate import Command, Me, decide
from core.store.reports import ModelStats

ME = Me(99, "rl_bot")
ANN = {"id": 7, "is_bot": False, "first_name": "Ann"}
GROUP = {"id": -100123, "type": "supergroup", "title": "Team"}


def test_ids_come_from_the_settings_and_a_bad_one_is_named() -> None:
    settings = TelegramSettings(
        telegram_chats="-100123, 42",
        telegram_users="7",
        telegram_admins="9,",
        _env_file=None,  # type: ignore[call-arg]  # no pydantic mypy plugin
    )
    assert Access.of(settings) == Access(frozenset({-100123, 42}), frozenset({7}), frozenset({9}))
    assert Access.of(TelegramSettings(_env_file=None)) == Access()  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"^REPLYLOOP_TELEGRAM_ADMINS: '@boss' is not"):
        id_numbers("9,@boss", "REPLYLOOP_TELEGRAM_ADMINS")


@pytest.mark.parametrize(
    ("access", "chat_id", "user_id", "allowed"),
    [
        (Access(), -100, 8, True),  # empty lists: everyone everywhere
        (Access(chats=frozenset({-100})), -100, 8, True),
        (Access(chats=frozenset({-100})), -200, 8, False),
        (Access(users=frozenset({7})), -200, 7, True),
        (Access(users=frozenset({7})), -200, 8, False),
        (Access(users=frozenset({7}), admins=frozenset({9})), -200, 9, True),  # admins are users
        (Access(chats=frozenset({-100}), users=frozenset({7})), -200, 7, False),  # both must
    ],
)
def test_the_allowlists(access: Access, chat_id: int, user_id: int, allowed: bool) -> None:
    assert access.allows(chat_id, user_id) is allowed


@pytest.mark.parametrize(
    ("command", "user_id", "private", "may"),
    [
        ("stats", 7, True, False),
        ("stats", 7, False, False),
        ("stats", 9, False, True),
        ("reset", 7, False, False),  # a group's conversation is everyone's
        ("reset", 7, True, True),  # one's own private chat
        ("reset", 9, False, True),
        ("help", 7, False, True),
        ("unknown", 7, False, True),
    ],
)
def test_admin_commands_when_admins_are_listed(
    command: str, user_id: int, private: bool, may: bool
) -> None:
    assert Access(admins=frozenset({9})).may_run(command, user_id, private) is may


def test_without_admins_everyone_may_run_every_command() -> None:
    assert all(Access().may_run(c, 7, False) for c in ("stats", "reset", "help"))


def test_the_refusals_say_so_in_one_short_line() -> None:
    assert NOT_ALLOWED == "Sorry, this bot is not open to you."
    assert admins_only("reset") == "Only admins can use /reset here."


def test_stats_is_a_command_of_ours() -> None:
    said = {
        "update_id": 1,
        "message": {
            "message_id": 2,
            "date": 1,
            "chat": GROUP,
            "from": ANN,
            "text": "/stats@rl_bot",
            "entities": [{"type": "bot_command", "offset": 0, "length": 13}],
        },
    }
    assert decide(said, ME) == Command("-100123", "stats")


def test_stats_text() -> None:
    assert stats_text(ModelStats("ppo-2", turns=40, up=3, down=1)) == (
        "Model ppo-2: approval 75% (3 👍, 1 👎) over 40 replies."
    )
    assert stats_text(ModelStats("sft-1", turns=1, up=0, down=0)) == (
        "Model sft-1: no votes yet over 1 reply."
    )
    assert stats_text(None) == NO_REPLIES
