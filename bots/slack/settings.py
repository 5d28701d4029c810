"""What a Slack adapter process can be told: core's settings and Slack's own.

Slack's variables keep the names Slack's documentation uses (SLACK_BOT_TOKEN), each also
accepted with the REPLYLOOP_ prefix; the others are REPLYLOOP_SLACK_*.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from core.settings import Settings, env_alias


class SlackSettings(Settings):
    """Settings and the Slack app's: `replyloop serve slack` and the io worker's Slack tasks."""

    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=env_alias("SLACK_BOT_TOKEN"), description="xoxb-...: the bot's token"
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        validation_alias=env_alias("SLACK_SIGNING_SECRET"),
        description="verifies the Events API's HTTP requests",
    )
    slack_app_token: SecretStr | None = Field(
        None, validation_alias=env_alias("SLACK_APP_TOKEN"), description="xapp-...: Socket Mode"
    )
    slack_api_url: str = Field(
        "https://slack.com/api/",
        validation_alias=env_alias("SLACK_API_URL"),
        description="the Slack Web API base (tests, self-hosted proxies)",
    )
    slack_teams: str = Field(
        "", description="comma-separated team ids the bot serves; empty serves every team"
    )
    slack_channels: str = Field(
        "", description="comma-separated channel ids the bot answers in; empty for all"
    )
    slack_buttons: bool = Field(
        True, description="add 👍/👎 and Try again buttons under replies (needs interactivity)"
    )
    slack_stream: bool = Field(
        True,
        description="show a reply while it is written: posted in its thread at once, then "
        "edited as it grows (chat.update), and edited into the whole reply at the end",
    )
    slack_stream_every_s: float = Field(
        1.0,
        ge=0.25,
        description="a streamed reply is edited at most this often (Slack rate-limits "
        "chat.update; about one a second per message is what it sustains)",
    )
