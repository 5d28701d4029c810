"""Prompts cut to a token budget by whole turns, and the check that two models share a
tokenizer; on the tiny model's real tokenizer and chat template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.types import ChatMessage
from training.models import TokenizerMismatch, check_same_tokenizer, load_tokenizer
from training.ppo.rollout import encode_prompts
from training.prompt_fit import PromptTooLong, fit_prompt, templated_ids
from workers.tiny_model import make_tiny_model

SYSTEM: ChatMessage = {"role": "system", "content": "be brief and kind"}
LONG: list[ChatMessage] = [
    SYSTEM,
    {"role": "user", "content": "hello there, how are you today?"},
    {"role": "assistant", "content": "I am fine, thank you."},
    {"role": "user", "content": "what is the capital of France?"},
    {"role": "assistant", "content": "Paris is the capital of France."},
    {"role": "user", "content": "the quick brown fox"},
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_tokenizer(make_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


def size(tokenizer: Any, messages: list[ChatMessage]) -> int:
    return len(templated_ids(tokenizer, messages))


def test_a_prompt_that_fits_is_unchanged(tokenizer: Any) -> None:
    assert fit_prompt(tokenizer, LONG, size(tokenizer, LONG)) == LONG


def test_whole_turns_go_first_and_the_system_prompt_stays(tokenizer: Any) -> None:
    """One token short of the whole prompt: the oldest exchange goes, as a whole."""
    budget = size(tokenizer, LONG) - 1
    fitted = fit_prompt(tokenizer, LONG, budget)
    assert fitted == [SYSTEM, *LONG[3:]]
    assert size(tokenizer, fitted) <= budget


def test_the_policy_sees_a_whole_template_with_its_system_block(tokenizer: Any) -> None:
    """What the policy is given: the template from its first token (the system block) to
    the assistant's opening, no message cut in the middle."""
    budget = size(tokenizer, [SYSTEM, LONG[-1]]) + 3  # room for no earlier turn
    (ids,) = encode_prompts(tokenizer, [LONG], budget)
    assert len(ids) <= budget
    assert tokenizer.decode(ids) == (
        "<|im_start|>system\nbe brief and kind<|im_end|>\n"
        "<|im_start|>user\nthe quick brown fox<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_never_an_answer_without_its_question(tokenizer: Any) -> None:
    """Dropping the oldest user turn alone would leave its answer first; it goes too."""
    budget = size(tokenizer, [SYSTEM, *LONG[2:]]) - 1
    fitted = fit_prompt(tokenizer, LONG, budget)
    assert [m["role"] for m in fitted] == ["system", "user", "assistant", "user"]
    assert fitted[1] == LONG[3]


def test_a_long_newest_message_loses_its_start_not_the_system_block(tokenizer: Any) -> None:
    words = " ".join(f"w{i}" for i in range(300))
    prompt: list[ChatMessage] = [SYSTEM, {"role": "user", "content": words}]
    fitted = fit_prompt(tokenizer, prompt, 64)
    assert fitted[0] == SYSTEM
    assert words.endswith(fitted[1]["content"]) and "w299" in fitted[1]["content"]
    assert 60 <= size(tokenizer, fitted) <= 64  # as much of the message as fits


def test_a_system_block_over_the_budget_is_refused(tokenizer: Any) -> None:
    with pytest.raises(PromptTooLong, match="system block"):
        fit_prompt(tokenizer, LONG, size(tokenizer, [SYSTEM]) - 1)


def test_the_same_tokenizer_passes(tokenizer: Any, tmp_path: Path) -> None:
    tokenizer.save_pretrained(tmp_path)
    check_same_tokenizer(tokenizer, load_tokenizer(tmp_path), "policy", "rm")


def test_a_larger_vocabulary_is_refused(tokenizer: Any, tmp_path: Path) -> None:
    tokenizer.save_pretrained(tmp_path)
    other = load_tokenizer(tmp_path)
    other.add_tokens(["<|tool|>"])
    sizes = f"{len(tokenizer)} and {len(tokenizer) + 1} tokens"
    with pytest.raises(TokenizerMismatch, match=f"runs/sft and runs/rm .*{sizes}"):
        check_same_tokenizer(tokenizer, other, "runs/sft", "runs/rm")


def test_another_chat_template_is_refused(tokenizer: Any, tmp_path: Path) -> None:
    """Same vocabulary, but the chat is laid out otherwise: ids differ."""
    tokenizer.save_pretrained(tmp_path)
    other = load_tokenizer(tmp_path)
    other.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(TokenizerMismatch, match="chat template"):
        check_same_tokenizer(tokenizer, other, "runs/sft", "runs/rm")
