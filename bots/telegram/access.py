"""Who the Telegram bot serves, with no I/O: the chat and user allowlists and the admins.

REPLYLOOP_TELEGRAM_CHATS and REPLYLOOP_TELEGRAM_USERS list the chat ids and user ids the
bot answers (empty: every chat, every user); both must let a message through. Admins
(REPLYLOOP_TELEGRAM_ADMINS) are always among the users. When admins are listed, /stats and
/reset in a group are theirs alone (in a private chat /reset touches only that person's own
conversation); with none listed, everyone may.
"""

from __future__ import annotations

from dataclasses import dataclass

from bots.telegram.settings import TelegramSettings
from core.settings import id_set

# Commands that only admins may run when admins are listed.
ADMIN_COMMANDS = frozenset({"stats"})
ADMIN_IN_GROUPS = frozenset({"reset"})

NOT_ALLOWED = "Sorry, this bot is not open to you."
ADMINS_ONLY = "Only admins can use /{command} here."


def id_numbers(listed: str, setting: str) -> frozenset[int]:
    """The Telegram ids of a comma-separated setting; a clear ValueError for a bad one.

    >>> sorted(id_numbers("42, -1001234 ,", "REPLYLOOP_TELEGRAM_CHATS"))
    [-1001234, 42]
    >>> id_numbers("42,@ann", "REPLYLOOP_TELEGRAM_USERS")
    Traceback (most recent call last):
    ...
    ValueError: REPLYLOOP_TELEGRAM_USERS: '@ann' is not a numeric Telegram id
    """
    numbers = set()
    for part in id_set(listed):
        try:
            numbers.add(int(part))
        except ValueError:
            raise ValueError(f"{setting}: {part!r} is not a numeric Telegram id") from None
    return frozenset(numbers)


@dataclass(frozen=True)
class Access:
    """The allowlists (empty: everyone) and the admins."""

    chats: frozenset[int] = frozenset()
    users: frozenset[int] = frozenset()
    admins: frozenset[int] = frozenset()

    @classmethod
    def of(cls, settings: TelegramSettings) -> Access:
        """From the settings; raises ValueError naming a setting with a non-numeric id."""
        return cls(
            id_numbers(settings.telegram_chats, "REPLYLOOP_TELEGRAM_CHATS"),
            id_numbers(settings.telegram_users, "REPLYLOOP_TELEGRAM_USERS"),
            id_numbers(settings.telegram_admins, "REPLYLOOP_TELEGRAM_ADMINS"),
        )

    def allows(self, chat_id: int, user_id: int) -> bool:
        """Whether the bot serves this user in this chat.

        >>> access = Access(chats=frozenset({-100}), users=frozenset({7}), admins=frozenset({9}))
        >>> access.allows(-100, 7), access.allows(-100, 9), access.allows(-100, 8)
        (True, True, False)
        >>> access.allows(-200, 7), Access().allows(-200, 8)
        (False, True)
        """
        chat_ok = not self.chats or chat_id in self.chats
        user_ok = not self.users or user_id in self.users or user_id in self.admins
        return chat_ok and user_ok

    def may_run(self, command: str, user_id: int, private: bool) -> bool:
        """Whether this user may run `command` (in a private chat or a group).

        >>> access = Access(admins=frozenset({9}))
        >>> access.may_run("stats", 7, True), access.may_run("stats", 9, False)
        (False, True)
        >>> access.may_run("reset", 7, False), access.may_run("reset", 7, True)
        (False, True)
        >>> Access().may_run("stats", 7, False), access.may_run("help", 7, False)
        (True, True)
        """
        if not self.admins or user_id in self.admins:
            return True
        if command in ADMIN_COMMANDS:
            return False
        return not (command in ADMIN_IN_GROUPS and not private)


def admins_only(command: str) -> str:
    """
    >>> admins_only("stats")
    'Only admins can use /stats here.'
    """
    return ADMINS_ONLY.format(command=command)
