"""workers.engine on a tiny real model: a padded batch gives each prompt the reply it gets
alone, and the prompt budget cuts the oldest tokens."""

from __future__ import annotations

import pytest

from core.types import ChatMessage, GenerationSettings
from workers.engine import Engine
from workers.models import ModelSource, load
from workers.tiny_model import make_tiny_model

PROMPTS: list[list[ChatMessage]] = [
    [{"role": "user", "content": "hello"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "what is the capital of France? Tell me more, please."},
    ],
    [{"role": "user", "content": "the quick brown fox"}],
]
GREEDY = GenerationSettings(max_new_tokens=12, temperature=0.0)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    # init_std 0.5: varied tokens, so equal sequences mean something
    path = make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", init_std=0.5)
    model, tokenizer = load(ModelSource(path, "tiny"), device="cpu", threads=1)
    return Engine(model, tokenizer, "tiny")


def test_a_padded_batch_gives_each_prompt_its_own_greedy_reply(engine: Engine) -> None:
    alone = [engine.generate(prompt, GREEDY) for prompt in PROMPTS]
    together = engine.generate_batch(PROMPTS, GREEDY)
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]
    assert [g.text for g in together] == [g.text for g in alone]
    assert len({g.token_ids for g in alone}) == 3  # the replies differ: the test can fail
    assert [g.batch for g in together] == [3, 3, 3] and alone[0].batch == 1
    assert [g.prompt_tokens for g in together] == [g.prompt_tokens for g in alone]


def test_rows_stop_on_their_own_stop_token(engine: Engine) -> None:
    """A row that meets a stop token ends there while the others go on."""
    stop = engine.generate(PROMPTS[1], GREEDY).token_ids[3]
    engine.stop_ids = engine.stop_ids | {stop}
    try:
        alone = [engine.generate(prompt, GREEDY) for prompt in PROMPTS]
        together = engine.generate_batch(PROMPTS, GREEDY)
    finally:
        engine.stop_ids = engine.stop_ids - {stop}
    assert alone[1].new_tokens == 3
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]


def test_sampling_with_a_seed_repeats(engine: Engine) -> None:
    sampled = GenerationSettings(max_new_tokens=12, temperature=1.0, top_p=0.9)
    first = engine.generate_batch(PROMPTS, sampled, seed=7)
    again = engine.generate_batch(PROMPTS, sampled, seed=7)
    assert [g.token_ids for g in first] == [g.token_ids for g in again]
    assert all(g.new_tokens > 0 for g in first)


def test_a_prompt_over_budget_keeps_its_newest_tokens(engine: Engine) -> None:
    long: list[ChatMessage] = [{"role": "user", "content": "hello there " * 40}]
    budget = GenerationSettings(max_new_tokens=4, temperature=0.0, context_token_budget=64)
    cut, short = engine.generate_batch([long, PROMPTS[0]], budget)
    assert cut.prompt_cut and cut.prompt_tokens == 64
    assert not short.prompt_cut and short.prompt_tokens < 64


def test_a_watched_row_is_shown_its_text_as_it_grows(engine: Engine) -> None:
    """A live reply: the watched row's callback gets its growing text, the others none."""
    seen: list[str] = []
    together = engine.generate_batch(PROMPTS, GREEDY, watch={1: seen.append}, watch_every_s=0.0)
    final = together[1].text
    assert len(seen) >= 3 and len(set(seen)) == len(seen)  # new text each time it is shown
    assert all(final.startswith(text) for text in seen)
    assert len(seen[0]) < len(final)
    quiet: list[str] = []
    engine.generate_batch(PROMPTS, GREEDY, watch={0: quiet.append}, watch_every_s=60.0)
    assert quiet == []  # not shown more often than asked
