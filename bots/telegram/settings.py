"""What a Telegram adapter process can be told: core's settings and Telegram's own.

TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL and TELEGRAM_WEBHOOK_SECRET are also accepted with
the REPLYLOOP_ prefix; the others are REPLYLOOP_TELEGRAM_*.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from core.settings import Settings, env_alias


class TelegramSettings(Settings):
    """Settings and the Telegram bot's: `replyloop serve telegram` and the io worker's
    Telegram tasks."""

    telegram_bot_token: SecretStr | None = Field(
        None,
        validation_alias=env_alias("TELEGRAM_BOT_TOKEN"),
        description="the bot's token from @BotFather (123456:ABC-...)",
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org/bot",
        validation_alias=env_alias("TELEGRAM_API_URL"),
        description="the Bot API base; the token and the method are appended (tests, "
        "a local Bot API server)",
    )
    telegram_webhook_secret: SecretStr | None = Field(
        None,
        validation_alias=env_alias("TELEGRAM_WEBHOOK_SECRET"),
        description="webhook mode: Telegram sends it with every update (1-256 of A-Z, a-z, "
        "0-9, _ and -); other requests are refused",
    )
    telegram_stream: bool = Field(
        True,
        description="show a reply while it is written: sent at once, then edited as it "
        "grows (editMessageText), and edited into the whole reply at the end",
    )
    telegram_stream_every_s: float = Field(
        1.0,
        ge=0.25,
        description="in a private chat, a streamed reply is edited at most this often "
        "(Telegram's flood control allows about one message a second in a chat)",
    )
    telegram_stream_group_every_s: float = Field(
        3.0,
        ge=0.25,
        description="in a group, a streamed reply is edited at most this often (Telegram "
        "takes about 20 messages a minute in a group, edits included)",
    )
    telegram_chats: str = Field(
        "", description="comma-separated Telegram chat ids the bot answers in; empty for all"
    )
    telegram_users: str = Field(
        "", description="comma-separated Telegram user ids the bot answers; empty for all"
    )
    telegram_admins: str = Field(
        "",
        description="comma-separated Telegram user ids who may /stats and /reset a group; "
        "empty lets everyone",
    )
