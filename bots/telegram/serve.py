"""Running the Telegram adapter: python-telegram-bot's Application on the Bot API at
TELEGRAM_API_URL, long polling for updates.

At start-up getMe (python-telegram-bot's initialize) checks the token and says the bot's
username, which the group trigger rules need; setMyCommands puts the commands in
Telegram's menu. Only the update types handled are asked for: an edited message is never
even sent.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import Application, ApplicationBuilder

from bots.dedupe import Dedupe
from bots.telegram.app import Handlers
from core.settings import Settings
from core.store import Store

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
COMMANDS = [
    BotCommand("ask", "ask me something (in a group)"),
    BotCommand("reset", "start the conversation afresh"),
    BotCommand("help", "what I do and how to rate me"),
    BotCommand("start", "say hello"),
]

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


def build(settings: Settings, store: Store) -> TelegramApp:
    """The Application, its handlers registered; nothing is called until it runs."""
    if settings.telegram_bot_token is None:
        raise ValueError("set TELEGRAM_BOT_TOKEN")
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_url)
        .post_init(_announce)
        .build()
    )
    dedupe = Dedupe(settings.broker_url, settings.dedupe_ttl_s)
    Handlers(settings, store, dedupe).register(application)
    return application


async def _announce(application: TelegramApp) -> None:
    """After getMe: the command menu, and who the bot is (not its token)."""
    await application.bot.set_my_commands(COMMANDS)
    log.warning("Telegram: polling for updates as @%s", application.bot.username)


def serve_polling(application: TelegramApp) -> None:
    """Long polling until SIGINT or SIGTERM (python-telegram-bot handles both)."""
    application.run_polling(allowed_updates=ALLOWED_UPDATES)
