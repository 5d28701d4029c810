"""Slack's side of streamed replies (bots.streaming): the text so far is posted where the
reply goes (its thread, or the DM) as plain text with the "still writing" mark, then
edited with chat.update at most every REPLYLOOP_SLACK_STREAM_EVERY_S. The final delivery
(bots.slack.delivery) edits it into the whole reply, with its buttons and metadata.

The streamed message carries Slack message metadata naming the stored message whose reply
it shows (STREAM_TYPE, `message_id`): the live hash in Redis that names the message is
lost with Redis's data, and the final delivery then finds it in the thread by this, to
edit it rather than post the reply beside it. Editing it into the reply (or a failure
notice) replaces the metadata, so an ended stream is never found again.

The streamer's own Web API client has no retry handlers: a 429 is reported at once with
its Retry-After (the streamer holds that reply's edits off and never waits), and a call
gives up after TIMEOUT_S, well inside the reply's lock (wire.live.LOCK_S).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bots.slack.settings import SlackSettings
from bots.slack.translate import posted_as, where
from bots.streaming.pacing import preview
from bots.streaming.streamer import RateLimited, Refused, Streamer
from wire.live import LiveText

# Slack cuts a message's text at 40,000 characters and advises keeping it under 4,000.
PREVIEW_CHARS = 4000
TIMEOUT_S = 5.0
STREAM_TYPE = "replyloop_stream"
DEFAULT_RETRY_AFTER_S = 1.0  # a 429 without Retry-After


class SlackStream:
    def __init__(self, web: WebClient, every_s: float) -> None:
        self.web = web
        self._every_s = every_s

    def every_s(self, chat_key: str) -> float:
        return self._every_s

    def preview(self, text: str) -> str:
        return preview(text, PREVIEW_CHARS)

    def post(self, message_id: int, chat_key: str, answered: str | None, text: str) -> str:
        _team, channel, thread = where(chat_key)
        with _mapped():
            posted = self.web.chat_postMessage(
                channel=channel,
                thread_ts=thread,
                text=text,
                metadata=stream_metadata(message_id),
                unfurl_links=False,
            )
        return posted_as(channel, str(posted["ts"]))

    def edit(self, posted: str, text: str) -> None:
        channel, ts = posted.split(":", 1)
        with _mapped():
            self.web.chat_update(channel=channel, ts=ts, text=text)


def stream_metadata(message_id: int) -> dict[str, Any]:
    """The metadata of the message that streams stored message `message_id`'s reply."""
    return {"event_type": STREAM_TYPE, "event_payload": {"message_id": message_id}}


@contextmanager
def _mapped() -> Iterator[None]:
    """Slack's errors as the streamer's."""
    try:
        yield
    except SlackApiError as exc:
        code = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        if exc.response.status_code == 429 or code == "ratelimited":
            wait = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                "retry-after"
            )
            raise RateLimited(float(wait or DEFAULT_RETRY_AFTER_S)) from exc
        raise Refused(f"Slack says {code}") from exc
    except OSError as exc:  # urllib's URLError and timeouts
        raise Refused(f"Slack unreachable: {type(exc).__name__}") from exc


def streamer_for(settings: SlackSettings) -> Streamer | None:
    """The Slack adapter's streamer; None when streaming is off, or with no broker (one
    process: the reply is made before the message's handler returns)."""
    if not settings.slack_stream or settings.broker_url is None:
        return None
    if settings.slack_bot_token is None:
        raise RuntimeError("SLACK_BOT_TOKEN is not set: replies cannot be streamed")
    web = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=int(TIMEOUT_S),
        retry_handlers=[],
    )
    target = SlackStream(web, settings.slack_stream_every_s)
    return Streamer(LiveText(settings.broker_url), target, settings.reply_timeout_s)
