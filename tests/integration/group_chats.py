"""A store holding Slack, Telegram and WeCom group conversations, each message made as its
adapter makes it (the platform's payload through its pure translation, names through
the same recorders), with rated replies: what the privacy tests export and erase."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from typing import Any

from slack_sdk import WebClient

from bots.intake import store_message
from bots.slack import translate as slack
from bots.slack.names import Names
from bots.telegram import translate as telegram
from bots.wecom import bot_translate as wecom
from bots.wecom.translate import rater as wecom_rater
from core.anonymize import person_pseudonym
from core.context import build_prompt
from core.store import Store
from core.store.people import NameRecorder
from core.types import IncomingMessage, Vote
from tests.fake_slack import BOT_TOKEN, BOT_USER, TEAM, fake_slack

SECRET = b"privacy-secret"

# Slack: users.info knows three people; the ghost it does not (its id stands in for the
# name); Zoë's mention markup was stored before names were read (older text).
SLACK_PEOPLE = {
    "U0ANNLEE": ("Ann", "Ann Lee"),
    "U0KAISATO": ("Kai", "Kai Sato"),
    "U0BENODE": ("", "Ben Ode"),
}
GHOST, ZOE = "U0GHOST", "U0ZOERUIZ"
# Telegram: Mia has a username, Omar none (people mention him by a text mention), Zed
# only a username. Ids as long as real ones, so no digest or time can hold one by chance.
MIA: dict[str, Any] = {"id": 7100000001, "is_bot": False, "first_name": "Mia"}
MIA |= {"last_name": "Chen", "username": "mia_chen"}
OMAR: dict[str, Any] = {"id": 7100000002, "is_bot": False, "first_name": "Omar"}
ZED: dict[str, Any] = {"id": 7100000003, "is_bot": False, "username": "zed_42"}
ME = telegram.Me(7100000099, "rl_bot")
GROUP, OTHER_GROUP = -1001555, -1001777
# WeCom's smart bot in a group: callbacks carry user ids, no names.
ZHANG, LI, CORP = "zhangsan", "lisi", "ww0corp"

MENTIONED = {"slack": "Kai", "telegram": "mia_chen", "wecom": ZHANG}  # in liked replies

# Every id and name a person above is known by: no export may hold one.
IDENTIFIERS = [
    *SLACK_PEOPLE,
    GHOST,
    ZOE,
    "Ann",
    "Lee",
    "Kai",
    "Sato",
    "Ben Ode",
    *(str(p["id"]) for p in (MIA, OMAR, ZED)),
    "Mia",
    "Chen",
    "mia_chen",
    "Omar",
    "zed_42",
    ZHANG,
    LI,
]


def pseudonym(platform: str, person: str | int) -> str:
    return person_pseudonym(SECRET, platform, str(person))


@dataclass
class Chats:
    """The store, and the message ids each platform's group conversation got."""

    store: Store
    said: dict[str, list[int]]
    slack_names: Names
    turn: int = 0

    def rate(self, platform: str, message_id: int, raters: tuple[str, str]) -> None:
        """Two replies to the message, the first liked and the second disliked (a pair),
        each by the rater the platform's adapter would record. The liked one @mentions
        someone, as a model that read the names may."""
        stored = self.store.message(message_id)
        history = self.store.history(stored.conversation_id, message_id)
        prompt = build_prompt("Be kind.", history, stored.text, 4000, _words)
        for completion, rater, vote in (
            (f"Sounds good, @{MENTIONED[platform]}.", raters[0], Vote.UP),
            ("I cannot say.", raters[1], Vote.DOWN),
        ):
            self.turn += 1
            made = self.store.add_turn(
                stored.conversation_id,
                message_id,
                f"{platform}-{self.turn}",
                prompt,
                completion,
                "v1",
                {},
                {},
            )
            self.store.vote(made.id, rater, vote, "test")


def _words(message: Any) -> int:
    return len(str(message["content"]).split())


@contextmanager
def group_chats(store: Store) -> Iterator[Chats]:
    """`store` with every platform's conversations in it, their replies rated."""
    with fake_slack() as (workspace, api_url):
        workspace.people = dict(SLACK_PEOPLE)
        names = Names(WebClient(token=BOT_TOKEN, base_url=api_url), store)
        chats = Chats(store, {}, names)
        chats.said["slack"] = _slack(chats, names)
        chats.said["telegram"] = _telegram(chats)
        chats.said["wecom"] = _wecom(chats)
        yield chats


def slack_message(store: Store, names: Names, user: str, text: str, ts: str, thread: str) -> int:
    """A channel message in a thread, stored as bots.slack.listeners stores it."""
    event = {"type": "message", "channel": "C0TEAM", "channel_type": "channel", "user": user}
    said = slack.message({**event, "text": text, "ts": ts, "thread_ts": thread}, TEAM, BOT_USER)
    assert said is not None
    text = slack.said_by(names(said.user), slack.with_names(said.text, names))
    return store_message(
        store, IncomingMessage(slack.PLATFORM, said.chat_key, said.user, text, None, ts)
    )


def _slack(chats: Chats, names: Names) -> list[int]:
    store = chats.store
    ids = [
        slack_message(
            store,
            names,
            "U0ANNLEE",
            f"<@{BOT_USER}> <@U0KAISATO>, <@U0BENODE|ben>: lunch?",
            "1.0",
            "1.0",
        ),
        slack_message(store, names, GHOST, f"<@{BOT_USER}> <@U0ANNLEE> count me in", "2.0", "1.0"),
    ]
    # Stored as text was before names were read: Slack's markup, the author's too.
    _conversation, legacy = store.add_chat_message(
        slack.PLATFORM, "T1/C0TEAM/1.0", ZOE, f"<@{ZOE}>: ask <@U0KAISATO>", "C0TEAM:3.0"
    )
    ids += [legacy, slack_message(store, names, "U0KAISATO", "<@UBOT> noon", "4.0", "1.0")]
    for message_id in ids:
        chats.rate("slack", message_id, (slack.rater(TEAM, "U0KAISATO"), slack.rater(TEAM, GHOST)))
    return ids


def telegram_update(
    sender: dict[str, Any], text: str, chat: int = GROUP, **people: dict[str, Any]
) -> dict[str, Any]:
    """A group message to the bot ("@rl_bot ..."); `people` are text mentions (name ->
    user), and "@handle" words become mention entities, as Telegram marks them."""
    entities = []
    for word in text.split():
        if word.startswith("@"):
            entities.append({"type": "mention", "offset": _units(text, word), "length": len(word)})
    for shown, user in people.items():
        found = {"type": "text_mention", "offset": _units(text, shown), "length": len(shown)}
        entities.append({**found, "user": user})
    message = {"message_id": next(_MESSAGE_IDS), "date": 1, "from": sender, "text": text}
    chat_type = {"id": chat, "type": "supergroup" if chat < 0 else "private", "title": "Team"}
    return {"update_id": 1, "message": {**message, "chat": chat_type, "entities": entities}}


_MESSAGE_IDS = count(1)


def _units(text: str, part: str) -> int:
    return len(text[: text.index(part)].encode("utf-16-le")) // 2


def telegram_message(store: Store, recorder: NameRecorder, update: dict[str, Any]) -> int:
    """Stored as bots.telegram.app stores an answered message: its names recorded first."""
    decision = telegram.decide(update, ME)
    assert isinstance(decision, telegram.Answer), decision
    recorder.remember(telegram.people_named(update, ME))
    return store_message(store, decision.message)


def _telegram(chats: Chats) -> list[int]:
    recorder = NameRecorder(chats.store, telegram.PLATFORM)
    updates = [
        telegram_update(MIA, "@rl_bot ask Omar about @zed_42", Omar=OMAR),
        telegram_update(OMAR, "@rl_bot what does @mia_chen say?"),
        telegram_update(ZED, "@rl_bot me too"),
        telegram_update(OMAR, "@rl_bot is @mia_chen around?", chat=OTHER_GROUP),
        telegram_update(MIA, "hello there", chat=int(MIA["id"])),  # her DM with the bot
    ]
    ids = [telegram_message(chats.store, recorder, update) for update in updates]
    for message_id in ids:
        raters = (telegram.rater(int(ZED["id"])), telegram.rater(int(OMAR["id"])))
        chats.rate("telegram", message_id, raters)
    return ids


def wecom_message(store: Store, recorder: NameRecorder, user: str, text: str) -> int:
    """Stored as bots.wecom.bot_callback stores a group message: its names recorded first."""
    said = wecom.bot_message(
        {
            "msgid": f"{user}-{len(text)}",
            "aibotid": "B0BOT",
            "chatid": "G0TEAM",
            "chattype": "group",
            "from": {"userid": user},
            "msgtype": "text",
            "text": {"content": text},
        }
    )
    recorder.remember(wecom.people_named(said))
    message = IncomingMessage(
        "wecom", said.chat_key, said.user, wecom.said_by(said, said.text), None, said.msg_id
    )
    return store_message(store, message)


def _wecom(chats: Chats) -> list[int]:
    recorder = NameRecorder(chats.store, "wecom")
    ids = [
        wecom_message(chats.store, recorder, ZHANG, "@RobotA 巴黎在哪里？"),
        wecom_message(chats.store, recorder, LI, "@RobotA 我同意 @zhangsan 的问题"),
    ]
    for message_id in ids:
        chats.rate("wecom", message_id, (wecom_rater(CORP, LI), wecom_rater(CORP, ZHANG)))
    return ids
