"""Settings: environment variables with the REPLYLOOP_ prefix, or a .env file.

What any replyloop process can be told. Each chat platform's own settings extend these
next to its adapter (bots/<platform>/settings.py); replyloop.settings composes them all
into what every process is started with and `replyloop config` prints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from platformdirs import user_cache_dir, user_data_dir
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.types import DEFAULT_MAX_SECONDS, GenerationSettings
from core.urls import database_url, mask_url

DEFAULT_MODEL = "smollm2-135m-instruct"
# The generation settings' defaults have one home, GenerationSettings; the fields below
# that set them start from it.
_GENERATION = GenerationSettings()


def env_alias(name: str) -> AliasChoices:
    """A setting read from the variable its service's own documentation names, also
    accepted with the REPLYLOOP_ prefix (populate_by_name keeps the field name for
    keywords).

    >>> env_alias("BOT_TOKEN").choices
    ['BOT_TOKEN', 'REPLYLOOP_BOT_TOKEN']
    """
    return AliasChoices(name, f"REPLYLOOP_{name}")


def id_set(listed: str) -> frozenset[str]:
    """The ids of a comma-separated setting.

    >>> sorted(id_set(" T1, T2 ,,"))
    ['T1', 'T2']
    """
    return frozenset(part.strip() for part in listed.split(",") if part.strip())


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


def stop_texts(given: str) -> list[str]:
    r"""REPLYLOOP_STOP: a JSON list of texts, or one text in which \n and \t stand for a
    newline and a tab (as they do in the JSON form; a shell's single quotes keep them as
    typed, and a stop text with a backslash-n in it is never what was meant).

    >>> stop_texts('["\\nUser:", "\\nBot:"]')
    ['\nUser:', '\nBot:']
    >>> stop_texts(r"\nUser:")
    ['\nUser:']
    >>> stop_texts("END")
    ['END']
    >>> stop_texts("")
    []
    """
    if not given:
        return []
    if given.lstrip().startswith("["):
        try:
            texts = json.loads(given)
        except ValueError:
            texts = None
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError(
                'a JSON list of texts (["\\nUser:", "\\nBot:"]) or one text is expected'
            )
        return texts
    return [re.sub(r"\\([nt\\])", lambda m: _ESCAPES[m.group(1)], given)]


class Settings(BaseSettings):
    """What every replyloop process can be told, whichever platform it serves."""

    model_config = SettingsConfigDict(
        env_prefix="REPLYLOOP_", env_file=".env", extra="ignore", populate_by_name=True
    )

    broker_url: str | None = Field(
        None, description="Celery broker (redis://...); unset runs everything in one process"
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; unset uses a SQLite file in data_dir"
    )
    data_dir: Path = Field(Path(user_data_dir("replyloop")), description="SQLite file, secrets")
    cache_dir: Path = Field(Path(user_cache_dir("replyloop")), description="converted models")
    model: str = Field(DEFAULT_MODEL, description="built-in model name or a local model folder")
    max_new_tokens: int = Field(_GENERATION.max_new_tokens, ge=1, le=4096)
    temperature: float = Field(_GENERATION.temperature, ge=0.0, le=5.0)
    top_p: float = Field(_GENERATION.top_p, gt=0.0, le=1.0)
    context_token_budget: int = Field(_GENERATION.context_token_budget, ge=64)
    system_prompt: str = _GENERATION.system_prompt
    # NoDecode: a plain text is one stop text, not a JSON error (stop_texts reads both).
    stop: Annotated[list[str], NoDecode] = Field(
        list(_GENERATION.stop),
        description="the reply ends before any of these texts: one text (\\nUser:) or a JSON "
        'list (["\\nUser:", "\\nBot:"]); \\n and \\t stand for a newline and a tab',
    )
    max_reply_s: float = Field(
        DEFAULT_MAX_SECONDS,
        gt=0,
        description="a reply still being generated after this long ends as it is",
    )
    kv_cache_mb: int = Field(
        0,
        ge=0,
        description="KV cache memory a gpu worker may fill; requests wait for room and one that "
        "alone cannot fit is refused; 0: 80% of free GPU memory, or 4096 on CPU",
    )
    prefill_tokens: int = Field(
        4096,
        ge=64,
        description="most prompt tokens joining the running batch at one step (a bigger "
        "prefill stalls the replies being decoded for longer)",
    )
    terminal_stream: bool = Field(
        True, description="`replyloop chat` prints a reply as it is made, not when it is done"
    )
    torch_threads: int = Field(
        0, ge=0, description="CPU threads for generation; 0 lets torch choose (all cores)"
    )
    max_batch: int = Field(
        16,
        ge=1,
        le=512,
        description="most replies a gpu worker generates together (it holds twice as many)",
    )
    max_message_chars: int = Field(
        4000, ge=16, description="longer messages are cut, with a notice"
    )
    rater_secret: SecretStr | None = Field(
        None, description="HMAC key for rater ids in exports; made once in data_dir if unset"
    )
    reply_timeout_s: float = Field(300.0, gt=0, description="how long a chat waits for a reply")
    order_wait_s: float = Field(
        300.0,
        ge=0,
        description="a message waits at most this long for the reply to an earlier one of "
        "its conversation that another worker is making",
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="serve Prometheus /metrics on this port (0: none)"
    )
    canary_check_every_s: float = Field(
        10.0, gt=0, description="how often each gpu worker looks at a running canary's votes"
    )
    visibility_timeout_s: int = Field(
        600, ge=30, description="a task whose worker died runs again after this long"
    )
    dedupe_ttl_s: int = Field(
        3600, ge=60, description="how long a platform's event id is remembered against retries"
    )
    # Why 12 and 30: a person typing fast sends a line every few seconds, a burst of
    # short lines included, so 12 a minute never stops a conversation; in a group several
    # people share a chat, and 30 a minute (one every 2 s) is past a lively channel but
    # about a fifth of what one CPU gpu worker makes with the default model (DESIGN.md:
    # 118 tok/s batched, ~2.5 replies/s), so one chat can never take a worker whole.
    user_limit: int = Field(
        12,
        ge=0,
        description="most messages one person gets answered in rate_window_s, in all chats "
        "of a platform; more are kept unanswered and the chat is told once; 0: no limit",
    )
    chat_limit: int = Field(
        30,
        ge=0,
        description="most messages one chat (a DM, a channel thread, a group) gets answered "
        "in rate_window_s; more are kept unanswered and the chat is told once; 0: no limit",
    )
    rate_window_s: int = Field(
        60, ge=1, description="the window user_limit and chat_limit count messages in"
    )
    # The sweeper (bots.sweeper) on io workers: a message whose task was lost is asked
    # for again. 30 s: far above a reply's usual second or two, and with a 10 s round a
    # lost message is answered within about 40 s of the broker being back.
    sweep_after_s: int = Field(
        30,
        ge=1,
        description="a message unanswered this long with no request in hand is asked for again",
    )
    sweep_every_s: float = Field(10.0, gt=0, description="how often an io worker sweeps")
    sweep_window_s: int = Field(
        6 * 3600, ge=60, description="how far back the sweeper looks for unanswered messages"
    )
    sweep_attempts: int = Field(
        5, ge=1, description="times a message is asked for again before it is given up"
    )

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_texts(cls, value: Any) -> Any:
        return stop_texts(value) if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return database_url(value) if value else value

    def generation(self) -> GenerationSettings:
        return GenerationSettings(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            context_token_budget=self.context_token_budget,
            system_prompt=self.system_prompt,
            stop=tuple(self.stop),
            max_seconds=self.max_reply_s,
        )

    @property
    def embedded(self) -> bool:
        """No broker: tasks run in this process."""
        return not self.broker_url

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'replyloop.sqlite3'}"

    def masked(self) -> dict[str, Any]:
        """The effective settings, safe to print: passwords and secrets hidden."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "***"
            elif name.endswith("_url") and isinstance(value, str):
                value = mask_url(value)
            shown[name] = value
        shown["database_url"] = mask_url(self.effective_database_url())
        shown["mode"] = "embedded (one process)" if self.embedded else "distributed (Celery)"
        return shown
