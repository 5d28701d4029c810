"""core.settings.Settings and each platform's (bots/<platform>/settings.py), composed in
replyloop.settings.AllSettings: REPLYLOOP_* environment variables, a .env file, validation,
masking."""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bots.slack.settings import SlackSettings
from bots.telegram.settings import TelegramSettings
from bots.wecom.settings import WeComSettings
from core.settings import DEFAULT_MODEL, Settings
from core.types import GenerationSettings
from replyloop.setting_errors import explain
from replyloop.settings import AllSettings
from wire.process import Process, WithoutSettings

PLATFORMS = {"slack_": SlackSettings, "telegram_": TelegramSettings, "wecom_": WeComSettings}
# Variables a platform's documentation names, read without the REPLYLOOP_ prefix too.
UNPREFIXED = ("SLACK_", "TELEGRAM_", "WECOM_")


def load(**given: Any) -> Settings:
    """Settings from the environment (and `given`), ignoring any .env file."""
    return Settings(_env_file=None, **given)  # type: ignore[call-arg]  # no pydantic mypy plugin


def load_all(**given: Any) -> AllSettings:
    """Every setting, each platform's too, as `replyloop` reads them (no .env file)."""
    return AllSettings(_env_file=None, **given)  # type: ignore[call-arg]


def from_cwd() -> Settings:
    """Settings as a process started in the current directory reads them (.env included)."""
    return Settings()  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No REPLYLOOP_* from the developer's shell, and no .env but the one a test writes."""
    for name in list(os.environ):
        if name.upper().startswith(("REPLYLOOP_", *UNPREFIXED)):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def test_defaults() -> None:
    settings = load()
    assert (settings.broker_url, settings.database_url, settings.model) == (
        None,
        None,
        DEFAULT_MODEL,
    )
    assert settings.generation() == GenerationSettings()
    assert settings.rater_secret is None
    assert (settings.max_message_chars, settings.reply_timeout_s) == (4000, 300.0)


def test_environment_variables_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLYLOOP_MAX_NEW_TOKENS", "64")
    monkeypatch.setenv("REPLYLOOP_TEMPERATURE", "0")
    monkeypatch.setenv("REPLYLOOP_TOP_P", "1")
    monkeypatch.setenv("REPLYLOOP_CONTEXT_TOKEN_BUDGET", "64")
    monkeypatch.setenv("REPLYLOOP_SYSTEM_PROMPT", "Be terse.")
    monkeypatch.setenv("REPLYLOOP_MODEL", "/models/mine")
    monkeypatch.setenv("REPLYLOOP_DATA_DIR", "/srv/replyloop")
    monkeypatch.setenv("REPLYLOOP_VISIBILITY_TIMEOUT_S", "7200")
    settings = load()
    assert settings.generation() == GenerationSettings(
        max_new_tokens=64,
        temperature=0.0,
        top_p=1.0,
        context_token_budget=64,
        system_prompt="Be terse.",
    )
    assert settings.model == "/models/mine"
    assert settings.data_dir == Path("/srv/replyloop")
    assert settings.visibility_timeout_s == 7200


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_NEW_TOKENS", "5")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    settings = load()
    assert (settings.max_new_tokens, settings.database_url) == (128, None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TOP_P", "0"),
        ("TOP_P", "1.01"),
        ("MAX_NEW_TOKENS", "0"),
        ("MAX_NEW_TOKENS", "4097"),
        ("MAX_NEW_TOKENS", "many"),
        ("TEMPERATURE", "-0.1"),
        ("CONTEXT_TOKEN_BUDGET", "63"),
        ("MAX_MESSAGE_CHARS", "15"),
        ("REPLY_TIMEOUT_S", "0"),
        ("VISIBILITY_TIMEOUT_S", "29"),
        ("DEDUPE_TTL_S", "59"),
        ("SLACK_STREAM_EVERY_S", "0"),
        ("TELEGRAM_STREAM_EVERY_S", "0.2"),
        ("TELEGRAM_STREAM_GROUP_EVERY_S", "0.1"),
        ("TELEGRAM_STREAM", "maybe"),
        ("WECOM_STREAM_LIMIT_S", "0"),
    ],
)
def test_bad_values_are_rejected(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(f"REPLYLOOP_{variable}", value)
    with pytest.raises(ValidationError) as raised:
        load_all()
    assert [error["loc"] for error in raised.value.errors()] == [(variable.lower(),)]


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        (
            "REPLYLOOP_WECOM_STREAM_LIMIT_S",
            "0",
            "REPLYLOOP_WECOM_STREAM_LIMIT_S='0' is not valid: a number > 0 is expected",
        ),
        (
            "REPLYLOOP_TELEGRAM_STREAM_GROUP_EVERY_S",
            "0.1",
            "REPLYLOOP_TELEGRAM_STREAM_GROUP_EVERY_S='0.1' is not valid: a number >= 0.25 "
            "is expected",
        ),
        (
            "REPLYLOOP_SLACK_BUTTONS",
            "maybe",
            "REPLYLOOP_SLACK_BUTTONS='maybe' is not valid: true or false is expected",
        ),
        ("WECOM_AGENT_ID", "one", "WECOM_AGENT_ID='one' is not valid: a whole number is expected"),
        (
            "REPLYLOOP_WECOM_AGENT_ID",
            "one",
            "REPLYLOOP_WECOM_AGENT_ID='one' is not valid: a whole number is expected",
        ),
    ],
)
def test_a_bad_platform_value_is_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        load_all()
    assert explain(raised.value, AllSettings) == said


def test_streaming_is_on_by_default_and_paced_per_platform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slack = SlackSettings(_env_file=None)  # type: ignore[call-arg]
    telegram = TelegramSettings(_env_file=None)  # type: ignore[call-arg]
    assert (slack.slack_stream, telegram.telegram_stream) == (True, True)
    assert (
        slack.slack_stream_every_s,
        telegram.telegram_stream_every_s,
        telegram.telegram_stream_group_every_s,
    ) == (1.0, 1.0, 3.0)
    monkeypatch.setenv("REPLYLOOP_SLACK_STREAM", "false")
    monkeypatch.setenv("REPLYLOOP_TELEGRAM_STREAM", "0")
    monkeypatch.setenv("REPLYLOOP_TELEGRAM_STREAM_GROUP_EVERY_S", "5")
    slack = SlackSettings(_env_file=None)  # type: ignore[call-arg]
    telegram = TelegramSettings(_env_file=None)  # type: ignore[call-arg]
    assert (slack.slack_stream, telegram.telegram_stream) == (False, False)
    assert telegram.telegram_stream_group_every_s == 5.0
    every = load_all()
    assert (every.slack_stream, every.telegram_stream) == (False, False)
    assert every.telegram_stream_group_every_s == 5.0


def test_dotenv_file_is_honoured_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    (clean_environment / ".env").write_text(
        "REPLYLOOP_BROKER_URL=redis://queue:6379/0\n"
        "REPLYLOOP_MAX_NEW_TOKENS=32\n"
        "REPLYLOOP_MODEL=/models/from-dotenv\n"
        "UNRELATED=1\n"
    )
    settings = from_cwd()
    assert (settings.broker_url, settings.max_new_tokens, settings.model) == (
        "redis://queue:6379/0",
        32,
        "/models/from-dotenv",
    )
    monkeypatch.setenv("REPLYLOOP_MAX_NEW_TOKENS", "16")
    assert from_cwd().max_new_tokens == 16


def test_bad_value_in_dotenv_is_rejected(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("REPLYLOOP_TOP_P=0\n")
    with pytest.raises(ValidationError):
        from_cwd()


def test_masked_never_shows_a_password_or_the_rater_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLYLOOP_DATABASE_URL", "postgresql+psycopg://bot:dbpw123@db:5432/rl")
    monkeypatch.setenv("REPLYLOOP_BROKER_URL", "redis://:brokerpw456@queue:6379/0")
    monkeypatch.setenv("REPLYLOOP_RATER_SECRET", "hmackey789")
    shown = load().masked()
    assert shown["database_url"] == "postgresql+psycopg://bot:***@db:5432/rl"
    assert shown["broker_url"] == "redis://:***@queue:6379/0"
    assert shown["rater_secret"] == "***"
    assert shown["mode"] == "distributed (Celery)"
    printed = repr(shown)
    for secret in ("dbpw123", "brokerpw456", "hmackey789"):
        assert secret not in printed


def test_masked_lists_every_setting_plus_the_mode(tmp_path: Path) -> None:
    shown = load(data_dir=tmp_path).masked()
    assert set(shown) == set(Settings.model_fields) | {"mode"}
    assert shown["database_url"] == f"sqlite:///{tmp_path}/replyloop.sqlite3"
    assert shown["rater_secret"] is None
    assert shown["mode"] == "embedded (one process)"


@pytest.mark.parametrize(("broker", "embedded"), [(None, True), ("", True), ("redis://q/0", False)])
def test_embedded_without_a_broker(
    monkeypatch: pytest.MonkeyPatch, broker: str | None, embedded: bool
) -> None:
    if broker is not None:
        monkeypatch.setenv("REPLYLOOP_BROKER_URL", broker)
    assert load().embedded is embedded


def test_default_database_is_a_sqlite_file_in_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLYLOOP_DATA_DIR", "/srv/replyloop data")
    assert load().effective_database_url() == "sqlite:////srv/replyloop data/replyloop.sqlite3"


def test_configured_database_url_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://bot:pw@db:5432/rl"
    monkeypatch.setenv("REPLYLOOP_DATABASE_URL", url)
    assert load().effective_database_url() == url


@pytest.mark.parametrize(
    ("given", "stops"),
    [
        ("\nUser:", ["\nUser:"]),
        ("\\nUser:", ["\nUser:"]),  # as typed in single quotes: the JSON form's escape
        ("END", ["END"]),
        ('["\\nUser:", "\\nBot:"]', ["\nUser:", "\nBot:"]),
        ("", []),
    ],
)
def test_stop_is_one_text_or_a_json_list(
    monkeypatch: pytest.MonkeyPatch, given: str, stops: list[str]
) -> None:
    monkeypatch.setenv("REPLYLOOP_STOP", given)
    settings = load()
    assert settings.stop == stops
    assert settings.generation().stop == tuple(stops)


def test_stop_that_looks_like_a_list_must_be_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLYLOOP_STOP", '["\\nUser:", 3]')
    with pytest.raises(ValidationError) as raised:
        load()
    assert [error["loc"] for error in raised.value.errors()] == [("stop",)]


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://bot:pw@db:5432/rl", "postgresql+psycopg://bot:pw@db:5432/rl"),
        ("postgresql://bot@db/rl", "postgresql+psycopg://bot@db/rl"),
        ("postgresql+psycopg://bot@db/rl", "postgresql+psycopg://bot@db/rl"),
        ("sqlite:////srv/rl.sqlite3", "sqlite:////srv/rl.sqlite3"),
    ],
)
def test_database_urls_as_hosts_hand_them_out(
    monkeypatch: pytest.MonkeyPatch, given: str, used: str
) -> None:
    monkeypatch.setenv("REPLYLOOP_DATABASE_URL", given)
    assert load().effective_database_url() == used


@pytest.mark.parametrize("url", ["mysql://bot@db/rl", "mssql+pyodbc://db/rl", "db.sqlite3"])
def test_unsupported_databases_are_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REPLYLOOP_DATABASE_URL", url)
    with pytest.raises(ValidationError, match="sqlite .* and postgresql .*"):
        load()


def test_core_settings_name_no_platform() -> None:
    named = [name for name in Settings.model_fields if name.startswith(tuple(PLATFORMS))]
    assert named == []


@pytest.mark.parametrize(("prefix", "platform"), PLATFORMS.items())
def test_each_platform_adds_only_its_own_settings_to_core(
    prefix: str, platform: type[Settings]
) -> None:
    added = set(platform.model_fields) - set(Settings.model_fields)
    assert added and all(name.startswith(prefix) for name in added)
    assert set(Settings.model_fields) <= set(platform.model_fields)


# Every platform setting core.settings held before each platform had its own (issue 19).
PLATFORM_SETTINGS = {
    *("slack_bot_token", "slack_signing_secret", "slack_app_token", "slack_api_url"),
    *("slack_teams", "slack_channels", "slack_buttons", "slack_stream", "slack_stream_every_s"),
    *("telegram_bot_token", "telegram_api_url", "telegram_webhook_secret", "telegram_stream"),
    *("telegram_stream_every_s", "telegram_stream_group_every_s", "telegram_chats"),
    *("telegram_users", "telegram_admins"),
    *("wecom_corp_id", "wecom_agent_id", "wecom_secret", "wecom_token", "wecom_aes_key"),
    *("wecom_api_url", "wecom_bot_token", "wecom_bot_aes_key", "wecom_stream_limit_s"),
    "wecom_users",
}


def test_the_config_view_lists_every_setting_of_every_platform(tmp_path: Path) -> None:
    shown = load_all(data_dir=tmp_path).masked()
    assert len(PLATFORM_SETTINGS) == 28
    assert set(shown) == set(Settings.model_fields) | PLATFORM_SETTINGS | {"mode"}
    assert set(shown) - {"mode"} == set().union(*(p.model_fields for p in PLATFORMS.values()))
    assert (shown["slack_api_url"], shown["wecom_stream_limit_s"]) == (
        "https://slack.com/api/",
        330.0,
    )
    # Core's first, then Slack's, Telegram's and WeCom's, as `replyloop config` printed before.
    owners = [next((p for p in PLATFORMS if name.startswith(p)), "core") for name in shown]
    assert [owner for owner, _ in groupby(owners[:-1])] == ["core", *PLATFORMS]
    assert list(shown)[-1] == "mode"


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("SLACK_BOT_TOKEN", "slack_bot_token"),
        ("REPLYLOOP_SLACK_BOT_TOKEN", "slack_bot_token"),
        ("TELEGRAM_WEBHOOK_SECRET", "telegram_webhook_secret"),
        ("REPLYLOOP_TELEGRAM_BOT_TOKEN", "telegram_bot_token"),
        ("WECOM_BOT_AES_KEY", "wecom_bot_aes_key"),
        ("REPLYLOOP_WECOM_SECRET", "wecom_secret"),
    ],
)
def test_platform_secrets_are_read_under_either_name_and_masked(
    monkeypatch: pytest.MonkeyPatch, variable: str, field: str
) -> None:
    monkeypatch.setenv(variable, "s3cret-value-123")
    settings = load_all()
    assert getattr(settings, field).get_secret_value() == "s3cret-value-123"
    shown = settings.masked()
    assert shown[field] == "***" and "s3cret" not in repr(shown)


def test_a_dotenv_platform_variable_is_honoured(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("WECOM_CORP_ID=ww42\nREPLYLOOP_SLACK_TEAMS=T1\n")
    settings = AllSettings()  # type: ignore[call-arg]
    assert (settings.wecom_corp_id, settings.slack_teams) == ("ww42", "T1")


def test_a_task_reads_its_platform_settings_from_the_process() -> None:
    every = load_all()
    started = Process(every, store=None, live=None)  # type: ignore[arg-type]  # not opened
    assert started.settings_as(SlackSettings) is every
    assert started.settings_as(WeComSettings) is every
    core_only = Process(load(), store=None, live=None)  # type: ignore[arg-type]
    with pytest.raises(WithoutSettings, match="started with Settings, not TelegramSettings"):
        core_only.settings_as(TelegramSettings)
