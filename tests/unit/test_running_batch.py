"""workers.running_batch.RunningBatch on a tiny real model: packed and padded prefill agree,
and rows that join, leave or have their cache cut get the scores they would get alone."""

from __future__ import annotations

import pytest
import torch

from workers.engine import Engine
from workers.models import ModelSource, load
from workers.running_batch import RunningBatch
from workers.tiny_model import make_tiny_model

PROMPTS = [[5, 9, 23, 42, 7, 19], [11, 3], [8, 30, 31, 12]]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", init_std=0.5)
    model, tokenizer = load(ModelSource(path, "tiny"), device="cpu", threads=1)
    return Engine(model, tokenizer, "tiny")


def alone(engine: Engine, ids: list[int], then: list[int]) -> torch.Tensor:
    """The next-token scores of `ids` followed by `then`, decoded in a batch of its own."""
    batch = RunningBatch(engine.model, engine.pad_id)
    logits = batch.join([ids])[0]
    for token in then:
        logits = batch.step([token])[0]
    return logits


def packing(engine: Engine, packs: bool) -> RunningBatch:
    """A batch that packs joining prompts whenever it can, or never (on its own it packs
    only where that costs fewer FLOPs: never on the tiny model)."""
    batch = RunningBatch(engine.model, engine.pad_id)
    batch._packing_pays = lambda prompts: packs  # type: ignore[method-assign]
    return batch


@torch.inference_mode()
@pytest.mark.parametrize("packs", [True, False])
def test_packed_and_padded_prefill_give_each_prompt_its_own_scores(
    engine: Engine, packs: bool
) -> None:
    batch = packing(engine, packs)
    logits = batch.join(PROMPTS)
    following = batch.step([4, 6, 8])
    for row, ids in enumerate(PROMPTS):
        torch.testing.assert_close(logits[row], alone(engine, ids, []), atol=1e-4, rtol=1e-4)
        then = alone(engine, ids, [[4, 6, 8][row]])
        torch.testing.assert_close(following[row], then, atol=1e-4, rtol=1e-4)


def test_packing_is_chosen_where_it_saves_work(engine: Engine) -> None:
    batch = RunningBatch(engine.model, engine.pad_id)
    many = [[1] * (25 + (7 * i) % 35) for i in range(16)]
    assert not batch._packing_pays(many)  # a tiny model: attention over all costs more
    batch._token_flops = 1e9  # a model whose weights dominate
    assert batch._packing_pays([[1] * 10, [1] * 100, [1] * 10])
    assert not batch._packing_pays([[1] * 99, [1] * 100])  # little padding to save


@torch.inference_mode()
def test_rows_that_join_and_leave_keep_their_own_scores(engine: Engine) -> None:
    batch = packing(engine, True)
    batch.join([PROMPTS[0]])
    batch.step([4])
    batch.join(PROMPTS[1:])  # two prompts join a row two tokens along
    assert batch.rows == 3 and batch.padding() > 0
    logits = batch.step([6, 13, 17])
    torch.testing.assert_close(logits[0], alone(engine, PROMPTS[0], [4, 6]), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits[1], alone(engine, PROMPTS[1], [13]), atol=1e-4, rtol=1e-4)
    width = batch.width
    batch.keep([1, 2])  # the longest row leaves: the columns only it used are cut
    assert batch.width < width
    logits = batch.step([21, 22])
    torch.testing.assert_close(logits[0], alone(engine, PROMPTS[1], [13, 21]), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits[1], alone(engine, PROMPTS[2], [17, 22]), atol=1e-4, rtol=1e-4)
    for _ in range(100):  # past the cache's headroom: it grows in place of concatenating
        logits = batch.step([21, 22])
    assert batch.width > 100
