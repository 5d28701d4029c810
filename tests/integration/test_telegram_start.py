"""`replyloop serve telegram` starting up with a bad token, as a person runs it, against the
fake Bot API (tests/fake_telegram.py): a malformed token is refused before any call, a
well-formed one Telegram refuses in one line with no traceback logged before it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_telegram import TOKEN, BotApi, fake_telegram
from tests.integration.start_up import refusal
from tests.integration.test_cli import one_line
from tests.integration.workers import clean_env, replyloop

MALFORMED = (
    "7012345678",  # the bot's id alone
    "bot" + TOKEN,  # copied from an API URL
    TOKEN + "\n",  # a newline from `echo ... > file`
    '"' + TOKEN + '"',
    "123456:short",
)


@pytest.fixture
def bot_api() -> Iterator[tuple[BotApi, str]]:
    with fake_telegram() as served:
        yield served


def serve(token: str, api_url: str, broker: str, home: Path) -> tuple[str, str]:
    """`replyloop serve telegram` with `token`: (its stdout, its stderr) once it ended."""
    env = clean_env(broker_url=broker, data_dir=str(home / "data"))  # a broker: no model here
    env.update(TELEGRAM_BOT_TOKEN=token, TELEGRAM_API_URL=api_url)
    done = replyloop("serve", "telegram", env=env, cwd=home)
    return refusal(done), done.stdout + done.stderr


@pytest.mark.parametrize("token", MALFORMED)
def test_a_malformed_token_is_refused_before_any_call(
    token: str, bot_api: tuple[BotApi, str], worker_broker: str, tmp_path: Path
) -> None:
    api, api_url = bot_api
    env = clean_env(broker_url=worker_broker, data_dir=str(tmp_path / "data"))
    env.update(TELEGRAM_BOT_TOKEN=token, TELEGRAM_API_URL=api_url)
    line = one_line(replyloop("serve", "telegram", env=env, cwd=tmp_path))
    assert line.startswith("replyloop: TELEGRAM_BOT_TOKEN ")
    assert "digits, ':', then about 35 letters" in line or "without the 'bot'" in line
    assert token.strip().strip('"') not in line
    assert api.refused == 0 and not api.calls  # Telegram never saw it


def test_a_token_telegram_refuses_is_one_line_without_a_traceback(
    bot_api: tuple[BotApi, str], worker_broker: str, tmp_path: Path
) -> None:
    api, api_url = bot_api
    wrong = "999999:AAH-not-the-fake-bots-token-012345"
    line, said = serve(wrong, api_url, worker_broker, tmp_path)
    assert line == "replyloop: Telegram refused the bot token (TELEGRAM_BOT_TOKEN)"
    assert api.refused == 1  # getMe, once: no retries
    assert wrong not in said and "ERROR" not in said
