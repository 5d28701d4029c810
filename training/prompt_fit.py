"""A chat prompt cut to a token budget by whole turns, so the chat template stays whole.

Keeping a templated prompt's last N token ids (what PPO once did) cuts through the
template: the system block goes, and the model sees a conversation that starts mid-message,
a layout it never saw in SFT, while the reward model scored the uncut text. Here the
system message and the newest message are always kept, earlier turns are dropped from the
oldest (never leaving an answer without its question, as core.context.build_prompt), and
only when that is still too long is the oldest part of the newest message's text cut.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from core.text import longest_end
from core.types import ChatMessage
from training.data.chitchat import DataError


class PromptTooLong(DataError):
    """Even the template's system block and an empty newest message exceed the budget."""


def templated_ids(tokenizer: Any, messages: Sequence[ChatMessage]) -> list[int]:
    """The prompt through the chat template, with the assistant's opening."""
    ids = tokenizer.apply_chat_template(
        list(messages), add_generation_prompt=True, tokenize=True, return_dict=False
    )
    return list(ids)


def fit_prompt(tokenizer: Any, prompt: Sequence[ChatMessage], max_tokens: int) -> list[ChatMessage]:
    """The messages of `prompt` whose templated ids fit in `max_tokens`; the prompt itself
    when it fits already.

    Raises PromptTooLong when the system block alone leaves no room for the newest message.
    """
    messages = list(prompt)
    if not messages or len(templated_ids(tokenizer, messages)) <= max_tokens:
        return messages
    head = messages[:1] if messages[0]["role"] == "system" else []
    body = messages[len(head) :]
    if not body:
        raise PromptTooLong(f"a prompt of only a system message takes over {max_tokens} tokens")
    while len(body) > 1:
        body = body[1:]
        while len(body) > 1 and body[0]["role"] != "user":  # no answer without its question
            body = body[1:]
        if len(templated_ids(tokenizer, [*head, *body])) <= max_tokens:
            return [*head, *body]
    return [*head, _cut_oldest_text(tokenizer, head, body[0], max_tokens)]


def _cut_oldest_text(
    tokenizer: Any, head: list[ChatMessage], last: ChatMessage, max_tokens: int
) -> ChatMessage:
    """`last` with the longest end of its text that fits after `head` (whole characters,
    so no byte-level token is split into a replacement character)."""
    text = last["content"]

    def fits(chars: int) -> bool:
        kept: ChatMessage = {**last, "content": text[len(text) - chars :]}
        return len(templated_ids(tokenizer, [*head, kept])) <= max_tokens

    if not fits(0):
        empty = len(templated_ids(tokenizer, [*head, {**last, "content": ""}]))
        raise PromptTooLong(
            f"the prompt's system block and an empty {last['role']} message take {empty} "
            f"tokens, over the budget of {max_tokens}: raise the prompt budget or shorten "
            "the system prompt"
        )
    end = longest_end(text, lambda end: fits(len(end)))
    return {**last, "content": end}


def fit_prompts(
    tokenizer: Any, prompts: Sequence[Sequence[ChatMessage]], max_tokens: int
) -> list[list[ChatMessage]]:
    return [fit_prompt(tokenizer, prompt, max_tokens) for prompt in prompts]


# Tokens the scored text may have beyond the prompt and the reply's sampled tokens: the
# template's closing of the reply (`<|im_end|>\n`), and a reply that tokenizes again into a
# few more tokens than were sampled.
REPLY_CLOSE = 16


def prompt_budget(
    max_prompt_tokens: int,
    max_new_tokens: int,
    reward_tokenizer: Any,
    who: str,
    asked: str | None = None,
) -> int:
    """The prompt budget of a trainer that samples replies of up to `max_new_tokens` and
    scores them with a reward model: `max_prompt_tokens`, or less where the reward model's
    length (`train rm --max-length`) could not hold that prompt and a whole reply: the
    scorer would cut the text's start, and with it the system prompt the policy saw.
    `who` and `asked` (where max_prompt_tokens came from) name them when it is less."""
    room = reward_tokenizer.model_max_length - max_new_tokens - REPLY_CLOSE
    if room <= 0:
        raise DataError(
            f"the reward model reads {reward_tokenizer.model_max_length} tokens: no room for "
            f"a prompt and a reply of max_new_tokens={max_new_tokens}"
        )
    if room < max_prompt_tokens:
        print(
            f"{who}: prompts cut to {room} tokens (not {asked or max_prompt_tokens}): the "
            f"reward model reads {reward_tokenizer.model_max_length} tokens, replies up to "
            f"{max_new_tokens}",
            file=sys.stderr,
        )
    return min(max_prompt_tokens, room)
