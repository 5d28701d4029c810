"""The chats both servers answer: the same prompts, in the same order of arrival.

Each of `chats` chats sends `turns` messages, the next one as soon as the reply to the one
before it is in (a closed loop, as people in a chat do). A server is a function that takes
the first message of every chat at time zero and calls back when a reply is done; the
timings it reports are per request: when it arrived, its first token, its end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.types import DEFAULT_SYSTEM_PROMPT, ChatMessage
from training.data import chitchat


@dataclass(frozen=True)
class Timing:
    chat: int
    arrived: float  # seconds from the start
    first_token: float
    done: float
    new_tokens: int
    token_ids: tuple[int, ...]


def prompts(count: int, file: Path | None = None) -> list[list[ChatMessage]]:
    """`count` opening messages of chitchat conversations, each as a chat's prompt; from
    `file` where given (written by bench.generation.offline), else from the chitchat wheel."""
    if file is not None:
        saved: list[list[ChatMessage]] = json.loads(file.read_text(encoding="utf-8"))
        if len(saved) < count:
            raise RuntimeError(f"{file} holds {len(saved)} prompts, fewer than {count}")
        return saved[:count]
    found: list[list[ChatMessage]] = []
    for conversation in chitchat.load():
        text = next((t for t in conversation.turns[:2] if len(t.split()) >= 3), None)
        if text is None or len(text) > 300:
            continue
        found.append(
            [
                {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
                {"role": "user", "content": text},
            ]
        )
        if len(found) == count:
            return found
    raise RuntimeError(f"the chitchat data holds fewer than {count} usable openers")


@dataclass(frozen=True)
class Summary:
    requests: int
    new_tokens: int
    seconds: float  # from the start to the last reply
    aggregate_tps: float  # all chats' new tokens a second
    ttft_median_s: float
    ttft_p90_s: float
    per_chat_tps: float  # a chat's new tokens over the time it waited for them, mean


def summarise(timings: list[Timing]) -> Summary:
    seconds = max(t.done for t in timings)
    tokens = sum(t.new_tokens for t in timings)
    ttfts = sorted(t.first_token - t.arrived for t in timings)
    per_chat = [t.new_tokens / max(t.done - t.arrived, 1e-9) for t in timings]
    return Summary(
        requests=len(timings),
        new_tokens=tokens,
        seconds=seconds,
        aggregate_tps=tokens / seconds,
        ttft_median_s=ttfts[len(ttfts) // 2],
        ttft_p90_s=ttfts[min(len(ttfts) - 1, int(len(ttfts) * 0.9))],
        per_chat_tps=sum(per_chat) / len(per_chat),
    )
