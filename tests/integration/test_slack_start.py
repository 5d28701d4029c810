"""`replyloop serve slack` starting up, as a person runs it, against the fake Slack Web API
(tests/fake_slack.py): a token Slack refuses is one line, and a normal start says nothing
it need not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_slack import BOT_TOKEN, Workspace, fake_slack
from tests.integration.adapters import adapter, free_port, http_ok
from tests.integration.start_up import refusal
from tests.integration.workers import clean_env, replyloop

# slack-bolt's words when it is given a client and also finds SLACK_BOT_TOKEN itself.
BOLT_WARNING = "`token` will be unused"


@pytest.fixture
def slack_api() -> Iterator[tuple[Workspace, str]]:
    with fake_slack() as served:
        yield served


def serve_env(worker_broker: str, api_url: str, home: Path, token: str) -> dict[str, str]:
    """SLACK_* as the README says to set them; a broker, so no model is loaded here."""
    env = clean_env(broker_url=worker_broker, data_dir=str(home / "data"))
    env.update(SLACK_BOT_TOKEN=token, SLACK_SIGNING_SECRET="s3cret-signing", SLACK_API_URL=api_url)
    return env


def test_a_token_slack_refuses_is_one_line(
    slack_api: tuple[Workspace, str], worker_broker: str, tmp_path: Path
) -> None:
    workspace, api_url = slack_api
    wrong = "xoxb-0000-not-this-workspace"
    env = serve_env(worker_broker, api_url, tmp_path, wrong)
    done = replyloop("serve", "slack", "--http", "--port", str(free_port()), env=env, cwd=tmp_path)
    line = refusal(done)
    assert line == "replyloop: Slack refused SLACK_BOT_TOKEN (auth.test: invalid_auth)"
    assert wrong not in done.stderr
    assert workspace.called("auth.test")  # Slack was asked, not guessed at


def test_a_normal_start_has_no_bolt_warning(
    slack_api: tuple[Workspace, str], worker_broker: str, tmp_path: Path
) -> None:
    workspace, api_url = slack_api
    env = serve_env(worker_broker, api_url, tmp_path, BOT_TOKEN)
    port = free_port()
    log = tmp_path / "serve.log"
    args = ["serve", "slack", "--http", "--host", "127.0.0.1", "--port", str(port)]
    with adapter(args, env, tmp_path, log, lambda: http_ok(f"http://127.0.0.1:{port}/healthz")):
        pass
    said = log.read_text(errors="replace")
    assert "Slack Events API on http://127.0.0.1" in said  # it did start and log
    assert BOLT_WARNING not in said
    assert "WARNING slack_bolt" not in said
    assert len(workspace.called("auth.test")) == 1  # the token checked once, at start
