"""`--lora-r` as a person runs it, on a tiny real model and a real database: each trainer
trains LoRA adapters and nothing else, the run keeps its adapter and publishes the merged
model, the registry says it is a LoRA run, and `replyloop eval` and `model promote` take
it as any other model (the promoted folder loads with plain transformers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from core.export.rows import pair_rows
from core.store import open_store, registry
from core.store.registry import ModelRecord
from tests.integration.test_dpo_cli import SECRET, siblings, write
from tests.integration.test_train_cli import TIMEOUT_S, evaluate, ok, train, votes_file
from tests.integration.workers import clean_env, replyloop

TARGETS = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
LORA = ("--lora-r", "4", "--held-out-percent", "20")


@pytest.fixture
def env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(database_url=sqlite_url, data_dir=str(tmp_path / "data"))


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def assert_lora_run(record: ModelRecord, run: Path, base: Path, head: bool = False) -> None:
    """The registry's record, run.json, adapter/ and model/ of a LoRA run: only the
    adapted projections (and a reward model's head) differ from the base, and the adapter
    holds nothing but adapters (and that head)."""
    lora = record.settings["lora"]
    assert lora["r"] == 4 and lora["alpha"] == 8 and lora["targets"] == TARGETS
    assert lora["modules_to_save"] == (["score"] if head else [])
    assert lora["adapter"] == str(run / "adapter")
    assert record.metrics["lora_r"] == 4.0
    assert record.metrics["lora_trainable_parameters"] == lora["trainable_parameters"] > 0
    assert json.loads((run / "run.json").read_text())["lora"]["adapter"] == "adapter"
    assert record.path == str(run / "model")

    config = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base) and config["r"] == 4
    adapter = load_file(run / "adapter" / "adapter_model.safetensors")
    assert {key for key in adapter if "lora_" not in key} == (
        {"base_model.model.score.weight"} if head else set()
    )
    assert sum(t.numel() for t in adapter.values()) == lora["trainable_parameters"]

    merged, before = weights(run / "model"), weights(base)
    changed = {key for key in merged if key in before and not torch.equal(merged[key], before[key])}
    assert changed, "training changed nothing"
    assert all(key.split(".")[-2] in TARGETS for key in changed if key != "score.weight")
    assert not any("lora" in key for key in merged)


def test_rm_ppo_rloo_train_adapters_resume_eval_and_promote(
    env: dict[str, str], sqlite_url: str, tiny_model: Path, tmp_path: Path
) -> None:
    pairs = write(
        tmp_path / "pairs.jsonl", [row for c in range(12) for row in pair_rows(siblings(c), SECRET)]
    )
    votes = votes_file(tmp_path / "votes.kto.jsonl")
    runs = tmp_path / "runs"
    said = train(
        env, tmp_path, "rm", "--base", str(tiny_model), "--pairs", str(pairs),
        "--votes", str(votes), "--out", str(runs / "rm"), "--max-steps", "2",
        "--batch-size", "4", "--learning-rate", "1e-2", *LORA,
    )  # fmt: skip
    assert "trained rm with LoRA r=4" in said
    ppo = (
        "ppo", "--policy", str(tiny_model), "--reward", str(runs / "rm"),
        "--out", str(runs / "ppo"), "--rollout-batch", "4", "--minibatch", "2",
        "--max-new-tokens", "4", "--prompts", str(votes), "--learning-rate", "1e-2",
        "--save-every", "1", *LORA,
    )  # fmt: skip
    train(env, tmp_path, *ppo, "--steps", "1")
    # Resumed from the adapters of checkpoint-1, not started over.
    train(env, tmp_path, *ppo, "--steps", "2")
    steps = [row["step"] for row in map(json.loads, (runs / "ppo" / "metrics.jsonl").open())]
    assert steps == [1, 2]
    # A full fine-tune never continues a LoRA run.
    refused = replyloop("train", *ppo, "--steps", "3", "--lora-r", "0", env=env, cwd=tmp_path)
    assert refused.returncode == 2
    assert f"{runs / 'ppo'} holds a different ppo run" in refused.stderr.splitlines()[-1]

    train(
        env, tmp_path, "rloo", "--policy", str(tiny_model), "--reward", str(runs / "rm"),
        "--prompts", str(votes), "--out", str(runs / "rloo"), "--max-steps", "2",
        "--batch-size", "4", "--num-generations", "2", "--max-new-tokens", "4",
        "--eval-prompts", "2", "--learning-rate", "1e-2", *LORA,
    )  # fmt: skip

    store = open_store(sqlite_url)
    models = {record.kind: record for record in registry.list_models(store)}
    assert_lora_run(models["rm"], runs / "rm", tiny_model, head=True)
    assert_lora_run(models["ppo"], runs / "ppo", tiny_model)
    assert_lora_run(models["rloo"], runs / "rloo", tiny_model)

    done = ok(
        evaluate(
            env,
            tmp_path,
            runs / "ppo",
            tiny_model,
            runs / "rm",
            "--allow-training-judge",
            "--limit",
            "4",
        )  # fmt: skip
    )
    assert "win_rate" in done.stdout

    ok(replyloop("model", "promote", models["ppo"].version, env=env, cwd=tmp_path))
    promoted = registry.promoted(store)
    assert promoted is not None and promoted.version == models["ppo"].version
    assert_plain_model(Path(promoted.path))


def assert_plain_model(folder: Path) -> None:
    """What the gpu worker's builtin engine does with a promoted folder: a plain
    transformers model, every weight found, nothing of PEFT's left over."""
    found: Any = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True)
    loaded, info = found
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    assert not (folder / "adapter_config.json").exists()
    assert type(loaded).__name__ == "LlamaForCausalLM"


def test_sft_kto_dpo_train_adapters_and_resume(
    env: dict[str, str], sqlite_url: str, tiny_model: Path, tmp_path: Path
) -> None:
    pairs = write(
        tmp_path / "pairs.jsonl", [row for c in range(12) for row in pair_rows(siblings(c), SECRET)]
    )
    votes = votes_file(tmp_path / "votes.kto.jsonl")
    runs = tmp_path / "runs"
    fast = ("--batch-size", "4", "--learning-rate", "1e-2", "--save-steps", "1", *LORA)
    sft = ("sft", "--base", str(tiny_model), "--data", str(votes), "--out", str(runs / "sft"))
    # Stopped by its time budget after the first step, then run again: TRL resumes the
    # adapters (and optimizer) of checkpoint-1 and takes the second step.
    train(env, tmp_path, *sft, "--max-steps", "2", "--max-minutes", "0.0001", *fast)
    said = train(env, tmp_path, *sft, "--max-steps", "2", *fast)
    assert "trained sft with LoRA r=4" in said
    train(
        env, tmp_path, "kto", "--policy", str(tiny_model), "--votes", str(votes),
        "--out", str(runs / "kto"), "--max-steps", "2", *fast,
    )  # fmt: skip
    train(
        env, tmp_path, "dpo", "--policy", str(tiny_model), "--pairs", str(pairs),
        "--out", str(runs / "dpo"), "--max-steps", "2", *fast,
    )  # fmt: skip

    store = open_store(sqlite_url)
    listed = registry.list_models(store)
    models = {record.kind: record for record in listed}  # the newest of each kind
    assert set(models) == {"sft", "kto", "dpo"}
    first_sft = next(record for record in listed if record.kind == "sft")
    assert first_sft.metrics["steps"] == 1 and first_sft.version != models["sft"].version
    for kind, record in models.items():
        assert_lora_run(record, runs / kind, tiny_model)
        assert record.metrics["steps"] == 2, kind
    # Each sft invocation ended with TRL's summary: the first at step 1, the second at 2.
    logged = [json.loads(line) for line in (runs / "sft" / "metrics.jsonl").open()]
    assert [row["step"] for row in logged if "train_loss" in row] == [1, 2]
    assert_plain_model(runs / "dpo" / "model")


def test_a_target_the_model_lacks_is_one_line_and_leaves_no_out_folder(
    env: dict[str, str], tiny_model: Path, tmp_path: Path
) -> None:
    votes = votes_file(tmp_path / "votes.kto.jsonl")
    done = replyloop(
        "train", "kto", "--policy", str(tiny_model), "--votes", str(votes),
        "--out", str(tmp_path / "runs" / "kto"), "--lora-r", "4", "--lora-targets", "q_proj,qkv",
        env=env, cwd=tmp_path, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "replyloop: --lora-targets qkv: no such linear module in the model (it has "
        "down_proj, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj)"
    )
    assert not (tmp_path / "runs").exists()
