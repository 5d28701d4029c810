"""What a Bot API token looks like, checked before any call: a mistyped token is said in
one line at start-up, never sent to Telegram, and never printed."""

from __future__ import annotations

import re

# @BotFather's tokens: the bot's numeric id, a colon, then 35 characters of [A-Za-z0-9_-]
# (e.g. 123456789:AAE...). A little slack on the length: Telegram has not promised it.
TOKEN_FORMAT = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{30,64}")
SHAPE = "digits, ':', then about 35 letters, digits, '_' or '-' (123456789:AAE...)"


def token_problem(token: str, name: str = "TELEGRAM_BOT_TOKEN") -> str | None:
    """What is wrong with `token`, in a line that names the setting but not the value; None
    if it is shaped like a token.

    >>> token_problem("123456789:" + "A" * 35) is None
    True
    >>> print(token_problem("bot123456789:" + "A" * 35))  # doctest: +ELLIPSIS
    TELEGRAM_BOT_TOKEN starts with 'bot': set it to the token alone, ...
    >>> print(token_problem(" 123:abc"))  # doctest: +ELLIPSIS
    TELEGRAM_BOT_TOKEN has spaces or quotes around or in it: @BotFather's tokens are ...
    >>> print(token_problem("123456789"))  # doctest: +ELLIPSIS
    TELEGRAM_BOT_TOKEN is not a bot token (9 characters, no ':'): @BotFather's tokens are ...
    """
    if TOKEN_FORMAT.fullmatch(token):
        return None
    if token.startswith("bot") and TOKEN_FORMAT.fullmatch(token[3:]):
        return (
            f"{name} starts with 'bot': set it to the token alone, without the 'bot' the "
            "API URL puts before it"
        )
    if re.search(r"[\s'\"]", token):
        return f"{name} has spaces or quotes around or in it: @BotFather's tokens are {SHAPE}"
    colon = "no ':'" if ":" not in token else "not shaped like one"
    return (
        f"{name} is not a bot token ({len(token)} characters, {colon}): @BotFather's tokens "
        f"are {SHAPE}"
    )
