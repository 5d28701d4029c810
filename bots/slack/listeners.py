"""The Slack app: slack-bolt listeners that translate, dedupe and enqueue, nothing more.

Bolt acknowledges each request before its listener runs, so Slack always has its answer
within 3 seconds; generation and posting happen in the workers. What a listener does:
- a message the bot answers (every DM; an @mention in a channel; any message in a thread
  it answered in): stored, and its reply queued (and streamed, bots.slack.stream);
- a 👍/👎 reaction a person adds or removes on a bot reply, or a rating button: a vote task;
- "Try again": a sibling reply, queued; `/replyloop` and the DM words `help` and `reset`.
Events are claimed by `event_id` (Slack's retries) and messages by channel and ts (a
mention arrives as both `app_mention` and `message`) in Redis, shared by every replica.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bots.dedupe import Dedupe
from bots.intake import accept, limited, request_reply
from bots.limits import Limits
from bots.slack import backfill
from bots.slack.delivery import DOWN, RETRY_ACTION, UP
from bots.slack.names import Names, names
from bots.slack.payload_check import PayloadCheck
from bots.slack.settings import SlackSettings
from bots.slack.translate import (
    PLATFORM,
    SlackMessage,
    event_time,
    message,
    posted_as,
    rater,
    reaction_vote,
    said_by,
    with_names,
)
from bots.streaming.streamer import Streamer
from bots.votes import take_platform_vote, take_vote
from core.errors import EmptyMessage, UnknownTurn
from core.settings import id_set
from core.store import Store
from core.store.reports import feedback_stats
from core.text import check_text
from core.types import IncomingMessage, Vote
from wire.messages import (
    CastVote,
    Notice,
    PlatformVote,
    send_notice,
)

log = logging.getLogger(__name__)

HELP = (
    "I'm replyloop, a chat bot that learns from your ratings. In a DM I answer every "
    "message; in a channel, @mention me and I answer in the thread (then the whole thread "
    "without a mention). Rate my replies with :+1: or :-1: (or the buttons); "
    "*Try again* makes another reply. Commands: `/replyloop help`, `/replyloop reset` "
    "(or `reset` in a DM or as `@replyloop reset` in a thread) starts the conversation "
    "afresh, `/replyloop stats` shows how the current model is rated."
)
RESET_DONE = "Starting afresh: I have forgotten this conversation's earlier messages."
RESET_IN_CHANNEL = (
    "In a channel each thread is its own conversation: start a new thread, or say "
    "`@replyloop reset` in the thread you want to start afresh."
)
TEXT_ONLY = "I can only read text, not files or images."
USAGE = "Say something after mentioning me, and I'll answer in the thread."


def build(
    settings: SlackSettings,
    store: Store,
    dedupe: Dedupe,
    client: WebClient,
    streamer: Streamer | None = None,
) -> App:
    """The bolt App, its listeners registered (`client` points at SLACK_API_URL); replies
    are shown while they are written when a `streamer` is given. Bolt checks the token
    with auth.test here: Slack's refusal is raised as the SlackApiError it is."""
    if settings.slack_signing_secret is None and settings.slack_app_token is None:
        raise ValueError("set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode)")
    secret = settings.slack_signing_secret
    try:
        with _token_only_in(client):
            app = App(
                client=client,
                signing_secret=secret.get_secret_value() if secret else None,
                request_verification_enabled=secret is not None,
                logger=logging.getLogger("slack_bolt"),
            )
    except BoltError as exc:
        # Bolt wraps auth.test's SlackApiError in a BoltError whose text is the whole
        # response; the caller knows how to say Slack's error code in a line.
        if isinstance(exc.__context__, SlackApiError):
            raise exc.__context__ from None
        raise
    Listeners(settings, store, dedupe, names(client, store), streamer).register(app)
    return app


@contextmanager
def _token_only_in(client: WebClient) -> Iterator[None]:
    """While Bolt's App is made, SLACK_BOT_TOKEN is not in the environment. Bolt reads that
    variable itself when it is given no token, even beside a client that holds one, and
    then warns on every start that "`token` will be unused" (slack_bolt App.__init__).
    The token it needs is the client's: the one the settings read (from SLACK_BOT_TOKEN,
    REPLYLOOP_SLACK_BOT_TOKEN or .env, which Bolt would not see)."""
    assert client.token, "the client carries the bot token"
    saved = os.environ.pop("SLACK_BOT_TOKEN", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["SLACK_BOT_TOKEN"] = saved


class Listeners:
    def __init__(
        self,
        settings: SlackSettings,
        store: Store,
        dedupe: Dedupe,
        names: Names,
        streamer: Streamer | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.dedupe = dedupe
        self.names = names
        self.streamer = streamer
        self.limits = Limits.of(settings)  # counted in Redis, shared by every replica
        self.teams = id_set(settings.slack_teams)
        self.channels = id_set(settings.slack_channels)

    def register(self, app: App) -> None:
        app.use(PayloadCheck())  # first: a payload Bolt cannot read never reaches ours
        app.use(self.gate)
        app.event("message")(self.on_message)
        app.event("app_mention")(self.on_message)
        app.event("reaction_added")(self.on_reaction)
        app.event("reaction_removed")(self.on_reaction)
        for action in (UP, DOWN, RETRY_ACTION):
            app.action(action)(self.on_button)
        app.command("/replyloop")(self.on_command)

    # -- every request ---------------------------------------------------------------------

    def gate(self, body: dict[str, Any], next: Any) -> BoltResponse | None:  # noqa: A002
        """Unknown teams are refused; an event Slack sends again is answered, not handled."""
        team = _team_of(body)
        if self.teams and team not in self.teams:
            log.warning("refused a request from team %s (not in REPLYLOOP_SLACK_TEAMS)", team)
            return BoltResponse(status=403, body="this workspace is not served")
        event_id = body.get("event_id")
        if event_id and not self.dedupe.first(f"slack:event:{event_id}"):
            log.info("event %s seen already (Slack retry %s)", event_id, body.get("retry"))
            return BoltResponse(status=200, body="")
        next()
        return None

    # -- messages --------------------------------------------------------------------------

    def on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        said = message(event, _team_of(body) or "", context.bot_user_id)
        if said is None:
            return
        # A reply in a channel's thread: has the bot taken part in that thread? (The one
        # query here, and only for such replies.)
        in_thread = not said.direct and said.thread_ts != said.ts
        known = in_thread and self.store.knows_chat(PLATFORM, said.chat_key)
        if not self._answers(said, known):
            return
        if not self.dedupe.first(f"slack:message:{said.channel}:{said.ts}"):
            return  # the same message as app_mention and message, or a replica's copy
        if said.files and not said.text:
            self._tell(said, TEXT_ONLY)
            return
        word = said.text.strip().lower()
        if word in ("help", "reset") and (said.direct or said.mentioned):
            self._word(said, word)
            return
        try:
            checked = check_text(said.text, self.settings.max_message_chars)
        except EmptyMessage:
            self._tell(said, USAGE)
            return
        if checked.notice:
            self._tell(said, checked.notice)
        if said.files:
            self._tell(said, TEXT_ONLY + " I read the words of your message.")
        # The model reads people's names: who speaks (in a channel, where several do) and
        # whom they mention.
        text = with_names(checked.text, self.names)
        if not said.direct:
            text = said_by(self.names(said.user), text)
        incoming = IncomingMessage(PLATFORM, said.chat_key, said.user, text, None, said.posted_as)
        if in_thread and not known:
            # Mentioned in a thread it never saw: the thread's earlier messages come first
            # (a mention over the limits is kept alone, unanswered, and the thread not read).
            if not limited(self.store, incoming, self.limits):
                backfill.queue(said, text)
            return
        accept(self.store, incoming, self.streamer, self.limits)

    def _answers(self, said: SlackMessage, in_known_thread: bool) -> bool:
        if said.direct:
            return True
        if self.channels and said.channel not in self.channels:
            return False
        return said.mentioned or in_known_thread

    def _word(self, said: SlackMessage, word: str) -> None:
        if word == "reset":
            self.store.reset(PLATFORM, said.chat_key)
            self._tell(said, RESET_DONE)
        else:
            self._tell(said, HELP)

    def _tell(self, said: SlackMessage, text: str) -> None:
        send_notice(PLATFORM, Notice(said.chat_key, 0, text))

    # -- ratings ---------------------------------------------------------------------------

    def on_reaction(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        item = event.get("item") or {}
        if item.get("type") != "message" or event.get("user") == context.bot_user_id:
            return
        if event.get("item_user") not in (None, context.bot_user_id):
            return  # a reaction on a person's message
        vote = reaction_vote(str(event.get("reaction", "")), event["type"] == "reaction_removed")
        if vote is None or not event.get("user"):
            return
        at = event_time(event.get("event_ts"))
        take_platform_vote(
            self.store,
            PlatformVote(
                platform=PLATFORM,
                posted_as=posted_as(item["channel"], item["ts"]),
                rater=rater(_team_of(body) or "", event["user"]),
                value=int(vote),
                source="slack_reaction",
                at=at.timestamp() if at else None,
            ),
        )

    def on_button(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        try:
            turn_id = int(action.get("value", ""))
        except ValueError:
            log.info("button %s with a bad value %r", action.get("action_id"), action.get("value"))
            return
        if action["action_id"] == RETRY_ACTION:
            try:
                request_reply(self.store.turn(turn_id).message_id, retry=True)
            except UnknownTurn:
                log.info("Try again on an unknown reply %s", turn_id)
            return
        user = str((body.get("user") or {}).get("id"))
        value = Vote.UP if action["action_id"] == UP else Vote.DOWN
        cast = CastVote(turn_id, rater(_team_of(body) or "", user), int(value), "slack_button")
        take_vote(self.store, cast)

    # -- /replyloop -----------------------------------------------------------------------

    def on_command(self, ack: Any, command: dict[str, Any]) -> None:
        word = str(command.get("text") or "help").strip().lower()
        if word == "reset":
            channel = str(command.get("channel_id", ""))
            if not channel.startswith("D"):
                ack(RESET_IN_CHANNEL)
                return
            self.store.reset(PLATFORM, f"{command.get('team_id')}/{channel}")
            ack(RESET_DONE)
        elif word == "stats":
            ack(self.stats())
        else:
            ack(HELP)

    def stats(self) -> str:
        """Approval of the newest model version that has replied."""
        version = self.store.newest_model_version()
        found = [s for s in feedback_stats(self.store.engine) if s.model_version == version]
        if not found:
            return "No replies yet."
        model = found[0]
        approval = "no votes yet" if model.approval is None else f"{model.approval:.0%} 👍"
        return (
            f"Model `{model.model_version}`: {model.turns} replies, {model.up} 👍, "
            f"{model.down} 👎 ({approval})."
        )


def _team_of(body: dict[str, Any]) -> str | None:
    team = body.get("team_id") or body.get("team")
    if isinstance(team, dict):
        team = team.get("id")
    return str(team) if team else None
