"""What a WeCom adapter process can be told: core's settings and WeCom's own, for the
self-built app (WECOM_CORP_ID, WECOM_SECRET, WECOM_TOKEN, WECOM_AES_KEY) and the smart bot
(WECOM_BOT_TOKEN, WECOM_BOT_AES_KEY).

The variables WeCom's console names are also accepted with the REPLYLOOP_ prefix; the
others are REPLYLOOP_WECOM_*.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from core.settings import Settings, env_alias


class WeComSettings(Settings):
    """Settings and the WeCom app's and smart bot's: `replyloop serve wecom` and the io
    worker's WeCom tasks."""

    wecom_corp_id: str = Field(
        "", validation_alias=env_alias("WECOM_CORP_ID"), description="WeCom corp id (ww...)"
    )
    wecom_agent_id: int | None = Field(
        None,
        validation_alias=env_alias("WECOM_AGENT_ID"),
        description="the self-built app's AgentId",
    )
    wecom_secret: SecretStr | None = Field(
        None, validation_alias=env_alias("WECOM_SECRET"), description="the self-built app's Secret"
    )
    wecom_token: SecretStr | None = Field(
        None, validation_alias=env_alias("WECOM_TOKEN"), description="the app's callback Token"
    )
    wecom_aes_key: SecretStr | None = Field(
        None, validation_alias=env_alias("WECOM_AES_KEY"), description="the app's EncodingAESKey"
    )
    wecom_api_url: str = Field(
        "https://qyapi.weixin.qq.com/cgi-bin/",
        validation_alias=env_alias("WECOM_API_URL"),
        description="the WeCom API base for every call, the token fetch included",
    )
    wecom_bot_token: SecretStr | None = Field(
        None, validation_alias=env_alias("WECOM_BOT_TOKEN"), description="the smart bot's Token"
    )
    wecom_bot_aes_key: SecretStr | None = Field(
        None,
        validation_alias=env_alias("WECOM_BOT_AES_KEY"),
        description="the smart bot's EncodingAESKey",
    )
    wecom_stream_limit_s: float = Field(
        330.0,
        gt=0,
        description="a smart-bot reply not done after this long is ended in its stream and "
        "sent on its own when done (WeCom polls a stream for 6 minutes)",
    )
    wecom_users: str = Field(
        "", description="comma-separated WeCom user ids the app answers; empty for all"
    )
