"""Slack end to end over the HTTP Events API: `replyloop serve slack --http` (the real
slack-bolt app) gets signed requests; real gpu and io workers on Redis and PostgreSQL answer
through the real slack_sdk client, pointed at a fake Slack Web API on 127.0.0.1
(tests/fake_slack.py). The `slack` fixture is tests/integration/slack_harness.py's.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from core.anonymize import person_pseudonym
from core.settings import Settings
from core.store.schema import kept_votes, turns
from core.types import delivery
from tests.fake_slack import BOT_USER, TEAM
from tests.integration.adapters import export, oversized_status, standing_votes
from tests.integration.scrape import free_port, moved, scrape
from tests.integration.slack_harness import (
    SECRET,
    Slack,
    another_adapter,
    new_channel,
    wait_for,
)
from tests.integration.workers import replyloop
from wire.app import configure
from wire.messages import Deliveries, send_deliveries


def test_a_mention_gets_a_threaded_reply_with_the_rating_reactions(slack: Slack) -> None:
    channel = new_channel()
    said = slack.say(channel, f"<@{BOT_USER}> hello there")
    reply = wait_for("the reply", lambda: slack.replies_in(channel, said["ts"]))[0]
    assert reply.params["text"]
    actions = reply.params["blocks"][-1]
    assert [e["action_id"] for e in actions["elements"]] == [
        "replyloop_up",
        "replyloop_down",
        "replyloop_retry",
    ]
    posted, turn = slack.reply(channel)
    assert wait_for("the reactions", lambda: posted.get("reactions") == ["+1", "-1"])
    assert turn.completion == reply.params["text"]
    assert turn.prompt[-1] == {"role": "user", "content": "Ann: hello there"}  # users.info


def test_a_channel_message_without_a_mention_is_not_answered(slack: Slack) -> None:
    channel = new_channel()
    said = slack.say(channel, "just talking among ourselves")
    slack.say(channel, "edited", subtype="message_changed")
    slack.say(channel, f"<@{BOT_USER}> from a bot", bot_id="B2")
    time.sleep(2)
    assert slack.replies_in(channel, said["ts"]) == []
    assert not [
        c for c in slack.workspace.called("chat.postMessage") if c.params["channel"] == channel
    ]


def test_later_messages_in_an_answered_thread_need_no_mention(slack: Slack) -> None:
    channel = new_channel()
    root = slack.say(channel, f"<@{BOT_USER}> first")
    wait_for("the first reply", lambda: slack.replies_in(channel, root["ts"]))
    slack.say(channel, "and a follow-up", thread_ts=root["ts"])
    replies = wait_for("the second reply", lambda: len(slack.replies_in(channel, root["ts"])) == 2)
    assert replies


def test_a_dm_is_answered_in_the_dm(slack: Slack) -> None:
    channel = "D" + secrets.token_hex(4).upper()
    slack.say(channel, "hi bot")
    reply = wait_for("the DM reply", lambda: slack.replies_in(channel, None))[0]
    assert "thread_ts" not in reply.params or reply.params["thread_ts"] is None


def test_a_retried_event_gets_one_reply(slack: Slack) -> None:
    channel = new_channel()
    said = slack.workspace.add(channel, {"user": "U1", "text": f"<@{BOT_USER}> once please"})
    event = {"type": "message", "channel": channel, "channel_type": "channel", **said}
    mention = {**event, "type": "app_mention"}
    assert slack.event(event, "EvSame1") == 200
    assert (
        slack.event(event, "EvSame1", X_Slack_Retry_Num="1", X_Slack_Retry_Reason="http_timeout")
        == 200
    )
    assert slack.event(mention, "EvOther1") == 200  # the same message as app_mention
    wait_for("the reply", lambda: slack.replies_in(channel, said["ts"]))
    time.sleep(2)
    assert len(slack.replies_in(channel, said["ts"])) == 1


def test_a_reaction_is_a_vote_and_its_removal_retracts_it(slack: Slack, tmp_path: Path) -> None:
    channel = new_channel()
    said = slack.say(channel, f"<@{BOT_USER}> rate me")
    posted, turn = slack.reply(channel)
    assert posted["thread_ts"] == said["ts"]
    item = {"type": "message", "channel": channel, "ts": posted["ts"]}

    def reaction(kind: str, name: str, user: str = "U2") -> int:
        event = {
            "type": kind,
            "user": user,
            "reaction": name,
            "item": item,
            "item_user": BOT_USER,
            "event_ts": f"{time.time():.6f}",
        }
        return slack.event(event)

    assert reaction("reaction_added", "tada") == 200  # not a vote
    assert reaction("reaction_added", "+1", user=BOT_USER) == 200  # the bot's own: not a vote
    assert reaction("reaction_added", "+1") == 200
    assert wait_for("the vote", lambda: standing_votes(slack.store, turn.id)) == [(f"{TEAM}:U2", 1)]

    out = tmp_path / "raw.jsonl"
    rows = export(slack.env, slack.home, out)
    row = next(r for r in rows if r["turn_id"] == turn.id)
    assert (row["platform"], row["up"], row["down"]) == ("slack", 1, 0)
    assert f"{TEAM}:U2" not in out.read_text()  # raters are HMAC'd

    assert reaction("reaction_removed", "+1") == 200
    wait_for("the retraction", lambda: standing_votes(slack.store, turn.id) == [(f"{TEAM}:U2", 0)])
    assert reaction("reaction_added", "thumbsdown") == 200
    wait_for("the 👎", lambda: standing_votes(slack.store, turn.id) == [(f"{TEAM}:U2", -1)])


def test_a_reaction_before_the_reply_is_marked_delivered_is_kept_not_lost(slack: Slack) -> None:
    """An io worker that died between posting a reply and marking it delivered leaves a
    window (until the delivery runs again) in which a reaction finds no stored reply: the
    vote is kept, and recorded when the reply is marked."""
    channel = new_channel()
    slack.say(channel, f"<@{BOT_USER}> rate me later")
    posted, turn = slack.reply(channel)
    with slack.store.engine.begin() as conn:  # as if the mark never happened
        conn.execute(update(turns).where(turns.c.id == turn.id).values(platform_message_id=None))
    assert slack.event(thumbs_up(channel, posted["ts"])) == 200

    def kept() -> bool:
        with slack.store.engine.connect() as conn:
            return conn.execute(select(kept_votes.c.id)).first() is not None

    wait_for("the kept vote", kept)
    assert standing_votes(slack.store, turn.id) == []
    slack.store.mark_delivered(turn.id, f"{channel}:{posted['ts']}")  # the delivery again
    assert standing_votes(slack.store, turn.id) == [(f"{TEAM}:U2", 1)]


def test_a_bad_or_stale_signature_is_refused_and_nothing_is_queued(slack: Slack) -> None:
    channel = new_channel()
    said = slack.workspace.add(channel, {"user": "U1", "text": f"<@{BOT_USER}> let me in"})
    payload = {
        "team_id": TEAM,
        "type": "event_callback",
        "event_id": "EvForged",
        "event": {"type": "message", "channel": channel, "channel_type": "channel", **said},
    }
    body = json.dumps(payload).encode()
    assert slack.post(body, secret="not-the-secret") == 401
    assert slack.post(body, age_s=6 * 60) == 401
    time.sleep(2)
    assert slack.replies_in(channel, said["ts"]) == []
    assert not slack.store.knows_chat("slack", f"{TEAM}/{channel}/{said['ts']}")


def test_a_429_is_waited_out_and_the_reply_is_posted_once(slack: Slack) -> None:
    channel = new_channel()
    slack.workspace.fail("chat.postMessage", 429, retry_after=1)
    slack.say(channel, f"<@{BOT_USER}> are you busy?")
    wait_for("the reply posted", lambda: slack.posted(channel))
    calls = [
        c for c in slack.workspace.called("chat.postMessage") if c.params["channel"] == channel
    ]
    assert len(calls) == 2  # the refused one, then the one that posted
    assert calls[1].at - calls[0].at >= 1.0
    time.sleep(1)
    assert len(slack.posted(channel)) == 1


def test_5xx_beyond_the_clients_retries_retries_the_task_and_posts_once(slack: Slack) -> None:
    channel = new_channel()
    slack.workspace.fail("chat.postMessage", 503, times=3)  # the client tries 3 times
    slack.say(channel, f"<@{BOT_USER}> still there?")
    wait_for("the reply posted", lambda: slack.posted(channel))
    calls = [
        c for c in slack.workspace.called("chat.postMessage") if c.params["channel"] == channel
    ]
    assert len(calls) == 4
    time.sleep(1)
    assert len(slack.posted(channel)) == 1


def test_a_reply_whose_answer_was_lost_is_found_not_posted_again(slack: Slack) -> None:
    """Slack posted the reply and the connection dropped before its answer came: the
    client does not post it again in the call (chat.postMessage has no idempotency key);
    the task's retry finds it in the thread by its metadata, and marks it delivered."""
    with another_adapter(slack, "serve-unstreamed.log", REPLYLOOP_SLACK_STREAM="false") as plain:
        channel = new_channel()
        slack.workspace.lose_answers()
        said = plain.say(channel, f"<@{BOT_USER}> did you get that?")
        posted, turn = plain.reply(channel)
    assert turn.platform_message_id == f"{channel}:{posted['ts']}"
    assert len(plain.replies_in(channel, said["ts"])) == 1  # one chat.postMessage, not two
    assert len(plain.posted(channel)) == 1


def test_a_reply_slack_refuses_for_good_is_logged_not_retried(slack: Slack) -> None:
    channel = new_channel()
    since = slack.workers.log_sizes()
    slack.workspace.fail("chat.postMessage", 200, error="not_in_channel")
    said = slack.say(channel, f"<@{BOT_USER}> can you hear me?")
    wait_for("the attempt", lambda: slack.workspace.called("chat.postMessage")[-1:])
    time.sleep(3)  # a retry with backoff would come within about 2 s
    calls = [
        c for c in slack.workspace.called("chat.postMessage") if c.params["channel"] == channel
    ]
    assert len(calls) == 1
    assert "Slack refused it (not_in_channel)" in slack.workers.logs(since)
    message = f"{TEAM}/{channel}/{said['ts']}"
    assert slack.store.knows_chat("slack", message)  # the reply is kept, undelivered


def test_a_thread_the_bot_cannot_read_is_answered_from_the_mention(slack: Slack) -> None:
    channel = new_channel()
    root = slack.workspace.add(channel, {"user": "U7", "text": "secret plans"})
    slack.workspace.fail("conversations.replies", 200, error="missing_scope", times=5)
    try:
        slack.say(channel, f"<@{BOT_USER}> summarise?", user="U9", thread_ts=root["ts"])
        _posted, turn = slack.reply(channel)
    finally:
        slack.workspace.fail("conversations.replies", 200, times=0)  # for the tests after
    assert [m["content"] for m in turn.prompt[1:]] == ["Zoë: summarise?"]
    read = slack.workspace.called("conversations.replies")
    assert [c.params["channel"] for c in read].count(channel) == 1  # asked once, not retried


def test_a_mention_in_a_thread_reads_what_was_said_before_it(slack: Slack) -> None:
    channel = new_channel()
    root = slack.workspace.add(channel, {"user": "U7", "text": "lunch at noon?"})
    slack.workspace.add(
        channel, {"user": "U8", "text": "<@U7> noon works", "thread_ts": root["ts"]}
    )
    said = slack.say(
        channel, f"<@{BOT_USER}> what did <@U8|ben> and I agree?", user="U9", thread_ts=root["ts"]
    )
    posted, turn = slack.reply(channel)
    assert posted["thread_ts"] == root["ts"]
    # People's names, as the README says, not Slack's ids (U8 has no display name: their
    # full name stands in, as in Slack).
    assert [m["content"] for m in turn.prompt[1:]] == [
        "Kai: lunch at noon?",
        "Ben Ode: @Kai noon works",
        "Zoë: what did @Ben Ode and I agree?",
    ]
    assert said["ts"] > root["ts"]
    asked = [c.params["user"] for c in slack.workspace.called("users.info")]
    assert {"U7", "U8", "U9"} <= set(asked)
    assert asked.count("U7") <= 2  # once per process (the adapter's, the io worker's)


def test_an_export_carries_pseudonyms_where_the_model_read_names(
    slack: Slack, tmp_path: Path
) -> None:
    channel = new_channel()
    root = slack.workspace.add(channel, {"user": "U7", "text": "lunch at noon?"})
    slack.workspace.add(
        channel, {"user": "U8", "text": "<@U7> noon works", "thread_ts": root["ts"]}
    )
    slack.say(channel, f"<@{BOT_USER}> did <@U8> and I agree?", user="U9", thread_ts=root["ts"])
    posted, turn = slack.reply(channel)
    seen = [m["content"] for m in turn.prompt[1:]]
    assert seen == [
        "Kai: lunch at noon?",
        "Ben Ode: @Kai noon works",
        "Zoë: did @Ben Ode and I agree?",
    ]
    item = {"type": "message", "channel": channel, "ts": posted["ts"]}
    vote = {"type": "reaction_added", "user": "U2", "reaction": "+1", "item": item}
    assert slack.event({**vote, "item_user": BOT_USER, "event_ts": f"{time.time():.6f}"}) == 200
    wait_for("the vote", lambda: standing_votes(slack.store, turn.id))

    key = "export-test-rater-secret"
    env = {**slack.env, "REPLYLOOP_RATER_SECRET": key}
    kai, ben, zoe = (person_pseudonym(key.encode(), "slack", u) for u in ("U7", "U8", "U9"))
    exported = [
        f"{kai}: lunch at noon?",
        f"{ben}: @{kai} noon works",
        f"{zoe}: did @{ben} and I agree?",
    ]
    raw = next(
        r for r in export(env, slack.home, tmp_path / "raw.jsonl") if r["turn_id"] == turn.id
    )
    assert [m["content"] for m in raw["prompt"][1:]] == exported
    kto = export(env, slack.home, tmp_path / "kto.jsonl", "kto")
    assert [m["content"] for m in kto[-1]["prompt"][1:]] == exported  # the newest rated reply
    for name in ("Kai", "Ben Ode", "Zoë"):
        assert name not in json.dumps([raw["prompt"], kto[-1]["prompt"]], ensure_ascii=False)
    assert slack.turn_of(channel, posted).prompt == turn.prompt  # the model's text keeps names


def test_health_and_help(slack: Slack) -> None:
    with urllib.request.urlopen(slack.events_url.replace("/slack/events", "/healthz")) as response:
        assert response.status == 200
    form = "command=%2Freplyloop&text=help&team_id=T1&channel_id=C1&user_id=U1&response_url=x"
    request_status = slack.post(form.encode(), content_type="application/x-www-form-urlencoded")
    assert request_status == 200


def _action(slack: Slack, action_id: str, turn_id: int, user: str = "U4", team: str = TEAM) -> int:
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": user},
        "api_app_id": "A1",
        "token": "unused",
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": f"replyloop-{turn_id}",
                "value": str(turn_id),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    form = "payload=" + urllib.parse.quote(json.dumps(payload))
    return slack.post(form.encode(), content_type="application/x-www-form-urlencoded")


def test_the_buttons_vote_and_try_again_posts_a_sibling(slack: Slack) -> None:
    channel = new_channel()
    said = slack.say(channel, f"<@{BOT_USER}> two answers please")
    _posted, turn = slack.reply(channel)
    assert _action(slack, "replyloop_down", turn.id) == 200
    wait_for("the 👎", lambda: standing_votes(slack.store, turn.id) == [(f"{TEAM}:U4", -1)])
    assert _action(slack, "replyloop_retry", turn.id) == 200
    second, sibling = slack.reply(channel, 1)
    assert second["thread_ts"] == said["ts"]
    assert (sibling.message_id, sibling.prompt) == (turn.message_id, turn.prompt)
    assert sibling.id != turn.id


def test_files_alone_get_a_text_only_notice(slack: Slack) -> None:
    channel = new_channel()
    slack.say(channel, f"<@{BOT_USER}>", subtype="file_share", files=[{"id": "F1"}])
    notice = wait_for("the notice", lambda: slack.workspace_texts(channel))
    assert notice == ["I can only read text, not files or images."]
    assert slack.posted(channel) == []


def test_an_oversized_message_is_cut_with_a_notice_and_answered(slack: Slack) -> None:
    channel = new_channel()
    slack.say(channel, f"<@{BOT_USER}> " + "long " * 2000)
    wait_for("the reply", lambda: slack.posted(channel))
    assert any("only the first 4,000 were read" in text for text in slack.workspace_texts(channel))


def test_reset_in_a_thread_starts_it_afresh(slack: Slack) -> None:
    channel = new_channel()
    root = slack.say(channel, f"<@{BOT_USER}> remember pineapples")
    wait_for("the reply", lambda: slack.posted(channel))
    slack.say(channel, f"<@{BOT_USER}> reset", thread_ts=root["ts"])
    wait_for(
        "the reset notice", lambda: "Starting afresh" in " ".join(slack.workspace_texts(channel))
    )
    slack.say(channel, "what fruit?", thread_ts=root["ts"])
    _posted, latest = slack.reply(channel, 1)
    assert [m["content"] for m in latest.prompt[1:]] == ["Ann: what fruit?"]


def test_a_delivery_that_runs_again_finds_its_reply_and_does_not_post_twice(slack: Slack) -> None:
    """The io worker posted a reply, then died before storing its ts: the task runs again."""
    channel = new_channel()
    slack.say(channel, f"<@{BOT_USER}> once")
    posted, turn = slack.reply(channel)
    with slack.store.engine.begin() as conn:  # as if the mark had never been written
        conn.execute(turns.update().where(turns.c.id == turn.id).values(platform_message_id=None))
    configure(Settings(broker_url=slack.env["REPLYLOOP_BROKER_URL"], _env_file=None))
    send_deliveries("slack", Deliveries([delivery(slack.store.turn(turn.id), repeat=True)]))
    marked = wait_for("the mark", lambda: slack.store.turn(turn.id).platform_message_id)
    assert marked == f"{channel}:{posted['ts']}"
    assert len(slack.posted(channel)) == 1


def test_reset_as_a_slash_command_in_a_channel_points_to_the_thread_word(slack: Slack) -> None:
    form = "command=%2Freplyloop&text=reset&team_id=T1&channel_id=C1&user_id=U1&response_url=x"
    assert "start a new thread" in slack.post_for_body(form.encode())


def test_reset_as_a_slash_command_in_a_dm_starts_it_afresh(slack: Slack) -> None:
    dm = "D" + secrets.token_hex(4).upper()
    slack.say(dm, "remember the number 42")
    wait_for("the reply", lambda: slack.posted(dm))
    form = f"command=%2Freplyloop&text=reset&team_id=T1&channel_id={dm}&user_id=U1&response_url=x"
    assert "Starting afresh" in slack.post_for_body(form.encode())
    slack.say(dm, "what number?")
    _posted, latest = slack.reply(dm, 1)
    assert [m["content"] for m in latest.prompt[1:]] == ["what number?"]


def test_an_unknown_team_is_refused(slack: Slack) -> None:
    assert _action(slack, "replyloop_up", 1, team="T-OTHER") == 403


def test_stats_command(slack: Slack) -> None:
    form = "command=%2Freplyloop&text=stats&team_id=T1&channel_id=C1&user_id=U1&response_url=x"
    body = slack.post_for_body(form.encode())
    assert "replies" in body and "Model" in body, body


def test_tokens_and_secrets_never_reach_the_logs(slack: Slack) -> None:
    slack.say("D" + secrets.token_hex(4).upper(), "say something")
    done = replyloop("config", env=slack.env, cwd=slack.home)
    assert done.returncode == 0, done.stderr
    logs = (slack.home / "serve.log").read_text(errors="replace") + slack.workers.logs()
    for secret in ("xoxb-test-token", SECRET):
        assert secret not in logs
        assert secret not in done.stdout


def test_a_body_over_one_mib_is_refused_before_it_is_read(slack: Slack) -> None:
    assert oversized_status(slack.events_url) == 413


def test_the_adapter_counts_the_messages_and_votes_it_took(slack: Slack) -> None:
    """`replyloop serve slack` with REPLYLOOP_METRICS_PORT: its /metrics, scraped after
    three mentions and a 👍 on each reply, moved by three messages and three votes."""
    port = free_port()
    with another_adapter(slack, "serve-metrics.log", REPLYLOOP_METRICS_PORT=str(port)) as counted:
        before = scrape(port)
        turns = []
        for index in range(3):
            channel = new_channel()
            counted.say(channel, f"<@{BOT_USER}> count me {index}")
            posted, turn = counted.reply(channel)
            assert counted.event(thumbs_up(channel, posted["ts"])) == 200
            turns.append(turn)

        def votes() -> float:  # the adapter answers Slack first, then takes the vote
            # A 👍 that beats the reply's delivered mark is kept, and recorded at the mark.
            after = scrape(port)
            return sum(
                moved(after, before, "replyloop_votes_total", platform="slack", model_version=v)
                for v in (turns[0].model_version, "kept")
            )

        assert wait_for("the votes counted", lambda: votes() == 3)
        after = scrape(port)
    assert moved(after, before, "replyloop_messages_total", platform="slack") == 3


def thumbs_up(channel: str, ts: str, user: str = "U2") -> dict[str, Any]:
    """Slack's reaction_added event for a 👍 on the message `ts` of `channel`."""
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": "+1",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": BOT_USER,
        "event_ts": f"{time.time():.6f}",
    }
