"""A smart-bot reply that outlasts WeCom's polling (REPLYLOOP_WECOM_STREAM_LIMIT_S, tiny
here): its stream ends with a note, and the reply follows through the message's
response_url, with the feedback id, at the fake WeCom API."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bots.wecom.bot_callback import LATER
from tests.fake_wecom import WeComApi, fake_wecom
from tests.integration.adapters import adapter, free_port, http_ok, platform_stack, wait_for
from tests.integration.test_wecom_bot import AES_KEY, BOT_ID, CORP_ID, TOKEN, Bot


@pytest.fixture(scope="module")
def late_bot(
    worker_broker: str, tiny_model: Path, pg_admin: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Bot, WeComApi, str]]:
    home = tmp_path_factory.mktemp("wecom-bot-late")
    settings = dict(
        WECOM_BOT_TOKEN=TOKEN,
        WECOM_BOT_AES_KEY=AES_KEY,
        WECOM_CORP_ID=CORP_ID,
        REPLYLOOP_WECOM_STREAM_LIMIT_S="0.001",
        REPLYLOOP_MAX_NEW_TOKENS="400",  # a reply that takes a while
    )
    with (
        fake_wecom() as (api, api_url),
        platform_stack(pg_admin, worker_broker, tiny_model, home, **settings) as stack,
    ):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        args = ["serve", "wecom", "--host", "127.0.0.1", "--port", str(port)]
        with adapter(args, stack.env, home, home / "serve.log", lambda: http_ok(f"{base}/healthz")):
            yield Bot(base, stack.store, stack.env, home), api, api_url


def test_a_reply_past_the_stream_limit_follows_by_response_url(
    late_bot: tuple[Bot, WeComApi, str],
) -> None:
    bot, api, api_url = late_bot
    user, code = "user-" + secrets.token_hex(4), secrets.token_hex(6)
    url = f"{api_url}aibot/response?response_code={code}"
    stream = bot.say("a long question", user, response_url=url)["stream"]["id"]
    ended = bot.poll(stream, user)
    assert ended["finish"] is True
    sent = wait_for(
        "the reply via response_url",
        lambda: [c for c in api.called("aibot/response") if c.query.get("response_code") == code],
    )
    assert len(sent) == 1 and sent[0].ok
    markdown = sent[0].body["markdown"]
    assert markdown["feedback"] == {"id": stream}
    turn = bot.store.turn(wait_for("the delivered mark", lambda: bot.turn_of(stream)))
    assert markdown["content"] == turn.completion
    if not ended["content"].startswith(turn.completion):  # the reply was not done in time
        assert LATER in ended["content"]
    assert BOT_ID in turn.chat_key
