"""Running the Telegram adapter: python-telegram-bot's Application on the Bot API at
TELEGRAM_API_URL, long polling for updates (the default), or a webhook Telegram posts them
to (bots.telegram.webhook).

At start-up getMe (python-telegram-bot's initialize) checks the token and says the bot's
username, which the group trigger rules need; setMyCommands puts the commands in
Telegram's menu. Only the update types handled are asked for (ALLOWED_UPDATES): messages
(an edited one is read and ignored, never answered twice), keyboard presses, and reactions
(sent only where the bot is a group admin). Starting long polling deletes any webhook
(python-telegram-bot does it); starting a webhook sets it, with its secret.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import Application, ApplicationBuilder

from bots import http_server
from bots.dedupe import Dedupe
from bots.streaming.streamer import Streamer
from bots.telegram.app import Handlers
from bots.telegram.settings import TelegramSettings
from bots.telegram.webhook import Loop, webhook_path, wsgi
from core.store import Store

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MESSAGE_REACTION,
]
COMMANDS = [
    BotCommand("ask", "ask me something (in a group)"),
    BotCommand("reset", "start the conversation afresh"),
    BotCommand("stats", "how the current model is rated"),
    BotCommand("help", "what I do and how to rate me"),
    BotCommand("start", "say hello"),
]
STOP_S = 10.0

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


def build(
    settings: TelegramSettings, store: Store, streamer: Streamer | None = None
) -> TelegramApp:
    """The Application, its handlers registered; nothing is called until it runs. Replies
    are shown while they are written when a `streamer` is given. Raises ValueError for a
    missing token or a non-numeric id in the allowlists."""
    if settings.telegram_bot_token is None:
        raise ValueError("set TELEGRAM_BOT_TOKEN")
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_url)
        .post_init(_announce)
        .build()
    )
    dedupe = Dedupe(settings.broker_url, settings.dedupe_ttl_s, open_when_away=True)
    Handlers(settings, store, dedupe, streamer=streamer).register(application)
    return application


async def _announce(application: TelegramApp) -> None:
    """After getMe: the command menu, and who the bot is (not its token)."""
    await application.bot.set_my_commands(COMMANDS)
    log.warning("Telegram: polling for updates as @%s", application.bot.username)


def serve_polling(application: TelegramApp) -> None:
    """Long polling until SIGINT or SIGTERM (python-telegram-bot handles both). A token
    Telegram refuses raises InvalidToken here, and nothing is logged."""
    # getMe first, on the loop run_polling goes on to use (its current one): inside
    # run_polling, initialize runs in python-telegram-bot's retry loop, which logs a
    # refused token as an ERROR with a 40-line traceback before raising it. Initialized
    # here, run_polling finds it done and skips straight on.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(application.initialize())
    application.run_polling(allowed_updates=ALLOWED_UPDATES)


async def _start_webhook(application: TelegramApp, url: str, secret: str) -> None:
    """getMe, the command menu, the handlers running, then the webhook set (last: an
    update Telegram posts finds the Application ready)."""
    await application.initialize()
    await application.bot.set_my_commands(COMMANDS)
    await application.start()
    await application.bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)


async def _stop(application: TelegramApp) -> None:
    await application.stop()
    await application.shutdown()


def serve_webhook(
    application: TelegramApp, url: str, secret: str, host: str, port: int, threads: int = 8
) -> None:
    """Set the webhook to `url` and serve it (and GET /healthz) on host:port until
    interrupted. Errors at start-up (a refused token, a refused URL) are raised here."""
    loop = Loop(application)
    loop.start()
    try:
        loop.run(_start_webhook(application, url, secret))
        log.warning(
            "Telegram: webhook for @%s on http://%s:%d%s",
            application.bot.username,
            host,
            port,
            webhook_path(url),
        )
        app = wsgi(webhook_path(url), secret, loop.deliver)
        http_server.serve(app, host, port, threads)
    finally:
        if application.running:
            loop.run(_stop(application), STOP_S)
        loop.stop()
