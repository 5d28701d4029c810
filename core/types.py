"""Domain types shared by every adapter, worker and trainer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, Literal, NotRequired, TypedDict

Role = Literal["system", "user", "assistant"]

# The one place it is written: settings, training data and benchmarks import it, so the model
# is trained on and measured with the prompt the workers serve with.
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant in a team chat. Answer briefly and kindly."


class ChatMessage(TypedDict):
    """One message as a chat template sees it."""

    role: Role
    content: str


class Vote(IntEnum):
    """A rater's current opinion of a reply; RETRACTED keeps the history honest."""

    DOWN = -1
    RETRACTED = 0
    UP = 1


@dataclass(frozen=True)
class IncomingMessage:
    """A message from any platform, already translated out of the platform's payload."""

    platform: str  # "terminal", "slack", "telegram", "wecom"
    chat_key: str  # the platform's conversation: a DM, a thread, a topic
    author: str  # the platform's user id
    text: str
    event_id: str | None = None  # the platform's id for dedupe
    platform_message_id: str | None = None


# A reply still being generated after this long ends as it is (wall clock). Named on its own
# because Settings.max_reply_s takes it as a float, where GenerationSettings also allows None.
DEFAULT_MAX_SECONDS = 120.0


@dataclass(frozen=True)
class GenerationSettings:
    """How a reply is generated; stored with every Turn so training sees the same.

    Its defaults are the only ones: core.settings.Settings takes them from here."""

    max_new_tokens: int = 128
    temperature: float = 0.7
    top_p: float = 0.9
    context_token_budget: int = 1024
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    stop: tuple[str, ...] = ()  # the reply ends before the first of these it spells
    max_seconds: float | None = (
        DEFAULT_MAX_SECONDS  # the reply ends as it is after this long (wall clock)
    )
    min_new_tokens: int = 0  # the end-of-reply token is not picked before this many

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "context_token_budget": self.context_token_budget,
            "system_prompt": self.system_prompt,
            "stop": list(self.stop),
            "max_seconds": self.max_seconds,
            "min_new_tokens": self.min_new_tokens,
        }


@dataclass(frozen=True)
class Turn:
    """One generated reply: the exact prompt the model saw, and what it said."""

    id: int
    conversation_id: int
    message_id: int  # the user message this replies to; siblings share it
    prompt: list[ChatMessage]
    completion: str
    model_version: str
    settings: dict[str, Any]
    timings: dict[str, float]
    created_at: datetime
    platform_message_id: str | None = None
    platform: str = ""  # where the conversation happens, for delivery
    chat_key: str = ""


class Delivery(TypedDict):
    """A stored reply as a platform's delivery task gets it (plain JSON): enough to post it
    without reading the store. `repeat` marks a reply that may have been delivered already
    (its generation task ran twice); delivery then checks the store first. `live` marks a
    reply asked for while it grew: its adapter may have shown it in a message of its own,
    which the delivery edits rather than posting another."""

    turn_id: int
    message_id: int
    chat_key: str
    text: str
    repeat: NotRequired[bool]
    live: NotRequired[bool]


def delivery(turn: Turn, repeat: bool = False, live: bool = False) -> Delivery:
    made = Delivery(
        turn_id=turn.id, message_id=turn.message_id, chat_key=turn.chat_key, text=turn.completion
    )
    if repeat:
        made["repeat"] = True
    if live:
        made["live"] = True
    return made


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    author: str
    text: str
    created_at: datetime
    platform: str = ""
    chat_key: str = ""


@dataclass(frozen=True)
class NewTurn:
    """A reply about to be stored: what `Store.add_turns` takes."""

    conversation_id: int
    message_id: int
    request_key: str  # one Turn per key: a redelivered task finds the stored one
    prompt: list[ChatMessage]
    completion: str
    model_version: str
    settings: dict[str, Any]
    timings: dict[str, float]
    chat: tuple[str, str] | None = None  # (platform, chat key) when known: saves a query


@dataclass(frozen=True)
class ReplyContext:
    """What generation needs to answer a message: the message itself, the conversation
    before it as (user text, reply or None) pairs, the Turn already made for this
    request, if a task is redelivered, and the first earlier message whose reply is still
    to come (being made, maybe by another worker), if any."""

    message: StoredMessage
    history: list[tuple[str, str | None]]
    existing: Turn | None = None
    waits_on: int | None = None


@dataclass(frozen=True)
class VoteResult:
    """What a vote did, for the adapter to tell the rater."""

    turn_id: int
    rater: str
    value: Vote
    previous: Vote
    changed: bool


class DataSource(TypedDict):
    """A data file a model was trained on, as the registry records it."""

    name: str  # e.g. the export file's name
    rows: int
    sha256: str


@dataclass(frozen=True)
class ModelRecord:
    """A registered model (core.store.registry): where it lives and how it was made."""

    version: str  # the name every Turn it makes records
    kind: str  # builtin | sft | rm | ppo | kto | dpo | local
    path: str  # the model folder; every gpu worker must be able to read it
    parent: str | None  # the version it was trained from
    data: list[DataSource]
    settings: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON (the time as ISO 8601)."""
        return {
            "version": self.version,
            "kind": self.kind,
            "path": self.path,
            "parent": self.parent,
            "data": [dict(d) for d in self.data],
            "settings": self.settings,
            "metrics": self.metrics,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Switch:
    """What a promotion or rollback did: the promoted version before and after it (None:
    none, so workers use REPLYLOOP_MODEL)."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after
