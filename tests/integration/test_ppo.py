"""PPO on tiny real models: a Llama of two layers as the SFT policy, and a reward model
made from it. The tokenizer's pad token is its end-of-turn token, as in SmolLM2, so ends
must come from masks."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from core.types import ChatMessage
from training.data.chitchat import DataError
from training.evaluate import evaluate
from training.evaluate_config import EvalConfig
from training.judge import TrainingJudge
from training.models import TokenizerMismatch, load_policy, load_scorer, load_tokenizer
from training.ppo.experience import REPLY_CLOSE, collect, make_experience, rollout_values
from training.ppo.ppo_config import PpoConfig
from training.ppo.ppo_trainer import train_ppo
from training.ppo.rollout import (
    Rollout,
    encode_prompts,
    pack,
    response_logprobs,
    sample,
    stop_token_ids,
)
from training.ppo.update import encode_ptx, ppo_update
from training.prompt_fit import fit_prompt
from training.runs import (
    RunFolder,
    RunMismatch,
    TrainedAgainst,
    recorded_reward_model,
    weights_digest,
)
from training.scoring import reward_scores
from workers.tiny_model import make_tiny_model

PROMPTS: list[list[ChatMessage]] = [
    [{"role": "user", "content": "hello there, how are you today?"}],
    [{"role": "user", "content": "what is the capital of France?"}],
    [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hello there"},
        {"role": "user", "content": "the quick brown fox jumps over the lazy dog"},
    ],
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "0123456789"}],
    [{"role": "user", "content": "thank you"}],
]
SMALL = PpoConfig(
    steps=2,
    rollout_batch=4,
    minibatch=2,
    ppo_epochs=2,
    learning_rate=1e-3,
    value_learning_rate=1e-3,
    max_new_tokens=8,
    max_prompt_tokens=48,
    save_every=1,
)
LOGGED = {
    "reward",
    "kl",
    "kl_coef",
    "entropy",
    "clipfrac",
    "approx_kl",
    "policy_loss",
    "value_loss",
    "response_length",
    "non_score_reward",
    "seconds",
    "rollout_tokens_per_s",
    "train_steps_per_s",
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(SFT policy folder, reward model folder)."""
    root = tmp_path_factory.mktemp("ppo_models")
    policy_dir = make_tiny_model(root / "sft")
    tokenizer = load_tokenizer(policy_dir)
    tokenizer.pad_token = tokenizer.eos_token  # SmolLM2's layout: pad is end-of-turn
    tokenizer.save_pretrained(policy_dir)
    reward = load_scorer(policy_dir)
    torch.manual_seed(1)
    with torch.no_grad():
        reward.score.weight.normal_(std=0.3)  # scores of order 1, not the init's 0.02
    reward.save_pretrained(root / "rm")
    tokenizer.save_pretrained(root / "rm")
    return policy_dir, root / "rm"


@pytest.fixture(scope="module")
def trained(models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    """A 2-step run (checkpoints after steps 1 and 2); tests copy it before changing it."""
    policy_dir, reward_dir = models
    run = RunFolder(tmp_path_factory.mktemp("ppo_run") / "run")
    train_ppo(policy_dir, reward_dir, run, PROMPTS, SMALL)
    return run


def hand_rollout(tokenizer: Any, stop_ids: frozenset[int], replies: list[str]) -> Rollout:
    """One prompt, the given replies (each closed by end-of-turn), as a rollout batch."""
    query = encode_prompts(tokenizer, [PROMPTS[0]], 64)[0]
    responses = [tokenizer.encode(text) + [tokenizer.eos_token_id] for text in replies]
    return pack(tokenizer, [query] * len(replies), responses, stop_ids)


def exact_kl(policy: Any, ref: Any, rollout: Rollout) -> torch.Tensor:
    """Σ_v π(v)·(log π(v) - log π_ref(v)) at every response position, summed per reply."""
    width = rollout.response_mask.shape[1]
    inputs = {
        "input_ids": rollout.input_ids,
        "attention_mask": rollout.attention_mask,
        "position_ids": rollout.position_ids,
        "logits_to_keep": width + 1,
    }
    with torch.no_grad():
        logp = policy(**inputs).logits[:, :-1].log_softmax(-1)  # (B, R, V)
        ref_logp = ref(**inputs).logits[:, :-1].log_softmax(-1)
    per_token = (logp.exp() * (logp - ref_logp)).sum(-1)  # (B, R)
    return (per_token * rollout.response_mask).sum(-1)


def test_update_moves_probability_towards_the_rewarded_reply(models: tuple[Path, Path]) -> None:
    policy_dir, reward_dir = models
    tokenizer = load_tokenizer(policy_dir)
    policy, ref = load_policy(policy_dir).eval(), load_policy(policy_dir).eval()
    value_model = load_scorer(reward_dir).eval()
    stop_ids = stop_token_ids(tokenizer, policy)
    rollout = hand_rollout(tokenizer, stop_ids, ["I am fine, thank you.", "the lazy dog"])
    config = replace(SMALL, rollout_batch=2, minibatch=2, ppo_epochs=4)
    with torch.no_grad():
        before = response_logprobs(policy, rollout, 1.0)  # (2, R)
        ref_logprobs = response_logprobs(ref, rollout, 1.0)
        values = rollout_values(value_model, rollout)
    assert float(exact_kl(policy, ref, rollout).abs().max()) == 0.0
    experience, stats = make_experience(
        rollout, before, ref_logprobs, values, torch.tensor([1.0, -1.0]), 0.03, config
    )
    assert stats["kl"] == 0.0 and stats["non_score_reward"] == 0.0
    value_start = [p.detach().clone() for p in value_model.parameters()]

    losses = ppo_update(
        policy,
        value_model,
        torch.optim.AdamW(policy.parameters(), lr=1e-3),
        torch.optim.AdamW(value_model.parameters(), lr=1e-3),
        experience,
        config,
        torch.Generator().manual_seed(0),
    )

    with torch.no_grad():
        after = response_logprobs(policy, rollout, 1.0)
    rewarded, unrewarded = after.sum(-1) - before.sum(-1)
    assert rewarded > 0.05, rewarded
    assert unrewarded < -0.05, unrewarded
    assert (exact_kl(policy, ref, rollout) > 0).all()
    assert losses["clipfrac"] > 0  # four epochs at this rate push ratios past 1 ± 0.2
    moved = zip(value_start, value_model.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in moved)


def test_sampled_rollout_layout(models: tuple[Path, Path]) -> None:
    """Masks end each reply at its first stop token; the sampling log-probs are those of
    one forward pass over the batch; a row's log-probs do not depend on its padding."""
    policy_dir, _ = models
    tokenizer = load_tokenizer(policy_dir)
    policy = load_policy(policy_dir).eval()
    # Half the vocabulary as stop tokens, so that most replies end early.
    stop_ids = stop_token_ids(tokenizer, policy) | frozenset(range(100, 300))
    rollout, logprobs, entropy = sample(
        policy,
        tokenizer,
        PROMPTS,
        max_prompt_tokens=48,
        max_new_tokens=12,
        temperature=1.0,
        stop_ids=stop_ids,
        generator=torch.Generator().manual_seed(0),
    )
    mask = rollout.response_mask
    lengths = mask.sum(-1)
    assert bool(rollout.ended.any()) and bool((lengths < mask.shape[1]).any())
    for row in range(len(PROMPTS)):
        n = int(lengths[row])
        assert mask[row, :n].all() and not mask[row, n:].any()  # a prefix
        response = rollout.responses[row].tolist()
        stops_in_reply = [t in stop_ids for t in response[:n]]
        assert stops_in_reply == [False] * (n - 1) + [bool(rollout.ended[row])]
        assert response[n:] == [tokenizer.pad_token_id] * (mask.shape[1] - n)
        text = response[: n - 1] if rollout.ended[row] else response[:n]
        assert rollout.texts[row] == tokenizer.decode(text, skip_special_tokens=True).strip()
    assert bool((entropy[mask.bool()] > 0).all()) and bool((entropy[~mask.bool()] == 0).all())
    with torch.no_grad():
        one_pass = response_logprobs(policy, rollout, 1.0)
        torch.testing.assert_close(logprobs, one_pass, rtol=0, atol=1e-4)
        longest = int(lengths.argmax())
        alone = rollout.select(torch.tensor([longest]))
        assert alone.input_ids.shape[1] < rollout.input_ids.shape[1]  # padding cut off
        torch.testing.assert_close(
            response_logprobs(policy, alone, 1.0)[0], one_pass[longest], rtol=0, atol=1e-4
        )


def test_train_ppo_end_to_end(models: tuple[Path, Path], trained: RunFolder) -> None:
    policy_dir, reward_dir = models
    rows = trained.metrics()
    assert [row["step"] for row in rows] == [1, 2]
    for row in rows:
        assert row.keys() >= LOGGED, LOGGED - row.keys()
        assert all(math.isfinite(v) for v in row.values()), row
        assert 0 < row["response_length"] <= SMALL.max_new_tokens
    manifest = json.loads(trained.manifest_path.read_text())
    assert manifest["kind"] == "ppo" and manifest["parent"] == "sft"
    assert manifest["metrics"]["reward"] == rows[-1]["reward"]
    # What eval refuses as the judge of this policy.
    assert recorded_reward_model(trained.model_dir) == TrainedAgainst(
        str(reward_dir.absolute()), weights_digest(reward_dir)
    )

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(trained.model_dir)
    start = AutoModelForCausalLM.from_pretrained(policy_dir)
    changed = [
        name
        for (name, p), q in zip(model.named_parameters(), start.parameters(), strict=True)
        if not torch.equal(p, q)
    ]
    assert changed, "the policy did not move"
    saved, original = load_tokenizer(trained.model_dir), load_tokenizer(policy_dir)
    assert saved.chat_template == original.chat_template
    value = load_file(trained.root / "value" / "model.safetensors")
    reward = load_file(reward_dir / "model.safetensors")
    assert not torch.equal(value["score.weight"], reward["score.weight"])
    assert sorted(p.name for p in trained.checkpoints.iterdir()) == ["checkpoint-1", "checkpoint-2"]


def test_resume_continues_from_the_newest_checkpoint(
    models: tuple[Path, Path], trained: RunFolder, tmp_path: Path
) -> None:
    policy_dir, reward_dir = models
    shutil.copytree(trained.root, tmp_path / "run")
    run = RunFolder(tmp_path / "run")
    three = replace(SMALL, steps=3)
    final = train_ppo(policy_dir, reward_dir, run, PROMPTS, three)
    rows = run.metrics()
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["checkpoint-2", "checkpoint-3"]
    # Step 3 is what an uninterrupted 3-step run makes of it: the checkpoint held it all.
    straight = RunFolder(tmp_path / "straight")
    train_ppo(policy_dir, reward_dir, straight, PROMPTS, three)
    for key in ("reward", "kl", "policy_loss", "value_loss"):
        assert final[key] == pytest.approx(straight.metrics()[-1][key], rel=1e-4, abs=1e-6), key

    with pytest.raises(RunMismatch):
        train_ppo(policy_dir, reward_dir, run, PROMPTS, replace(three, cliprange=0.3))


PTX_ROWS: list[dict[str, Any]] = [
    {
        "prompt": [{"role": "user", "content": "what is the capital of France?"}],
        "completion": [{"role": "assistant", "content": "Paris is the capital of France."}],
    },
    {
        "prompt": [{"role": "user", "content": "how are you today?"}],
        "completion": [{"role": "assistant", "content": "I am fine, thank you."}],
    },
]


def test_ptx_loss_covers_the_completion_only(models: tuple[Path, Path]) -> None:
    tokenizer = load_tokenizer(models[0])
    (ids, start), _ = encode_ptx(tokenizer, PTX_ROWS, SMALL)
    assert tokenizer.decode(ids[start:]) == "Paris is the capital of France.<|im_end|>\n"
    assert tokenizer.decode(ids[:start]).endswith("<|im_start|>assistant\n")


def test_ptx_term_is_logged(models: tuple[Path, Path], tmp_path: Path) -> None:
    policy_dir, reward_dir = models
    run = RunFolder(tmp_path / "run")
    config = replace(SMALL, steps=1, ptx_coef=0.5, ptx_batch=2)
    final = train_ppo(policy_dir, reward_dir, run, PROMPTS, config, ptx_rows=PTX_ROWS)
    assert math.isfinite(final["ptx_loss"]) and final["ptx_loss"] > 0
    assert "ptx_loss" in run.metrics()[-1]


def test_frozen_lower_layers_stay_put(models: tuple[Path, Path], tmp_path: Path) -> None:
    """--freeze-layers 1 on a 2-layer model: the embeddings and the first block keep their
    weights in the policy and the value model; the second block moves."""
    policy_dir, reward_dir = models
    run = RunFolder(tmp_path / "run")
    train_ppo(policy_dir, reward_dir, run, PROMPTS, replace(SMALL, steps=1, freeze_layers=1))
    before, after = (
        load_file(policy_dir / "model.safetensors"),
        load_file(run.model_dir / "model.safetensors"),
    )
    moved = {name for name in before if not torch.equal(before[name], after[name])}
    frozen = {n for n in before if n.startswith(("model.embed_tokens.", "model.layers.0."))}
    assert moved and not moved & frozen, moved & frozen
    assert any(name.startswith("model.layers.1.") for name in moved)
    value_before = load_file(reward_dir / "model.safetensors")
    value_after = load_file(run.root / "value" / "model.safetensors")
    for name in ("model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight"):
        assert torch.equal(value_before[name], value_after[name]), name
    assert not torch.equal(value_before["score.weight"], value_after["score.weight"])


def test_time_budget_stops_with_the_model_saved(models: tuple[Path, Path], tmp_path: Path) -> None:
    policy_dir, reward_dir = models
    run = RunFolder(tmp_path / "run")
    config = replace(SMALL, steps=50, max_minutes=1e-6)  # passed after the first step
    train_ppo(policy_dir, reward_dir, run, PROMPTS, config)
    assert [row["step"] for row in run.metrics()] == [1]
    assert (run.model_dir / "config.json").exists()
    assert run.latest_checkpoint() == run.checkpoints / "checkpoint-1"
    train_ppo(policy_dir, reward_dir, run, PROMPTS, replace(config, steps=2, max_minutes=0.0))
    assert [row["step"] for row in run.metrics()] == [1, 2]  # resumed, not restarted


LONG_PROMPT: list[ChatMessage] = [
    {"role": "system", "content": "be brief and kind"},
    {"role": "user", "content": "hello there, how are you today?"},
    {"role": "assistant", "content": "I am fine, thank you. And you?"},
    {"role": "user", "content": "what is the capital of France? the quick brown fox"},
    {"role": "assistant", "content": "Paris is the capital of France."},
    {"role": "user", "content": "thank you"},
]


def test_the_reward_model_scores_the_prompt_the_policy_saw(models: tuple[Path, Path]) -> None:
    """A prompt over the budget loses its oldest turns for the policy, and the reward model
    scores that cut prompt, system message included, not the longer original."""
    policy_dir, reward_dir = models
    tokenizer = load_tokenizer(policy_dir)
    policy = load_policy(policy_dir).eval()
    reward_model = load_scorer(reward_dir).eval()
    config = replace(SMALL, max_prompt_tokens=40)
    fitted = fit_prompt(tokenizer, LONG_PROMPT, config.max_prompt_tokens)
    assert fitted[0] == LONG_PROMPT[0] and len(fitted) < len(LONG_PROMPT)
    experience, stats = collect(
        policy,
        policy,
        reward_model,
        reward_model,
        tokenizer,
        tokenizer,
        [LONG_PROMPT, LONG_PROMPT],
        config,
        0.05,
        stop_token_ids(tokenizer, policy),
        torch.Generator().manual_seed(0),
    )
    replies = experience.rollout.texts
    length = config.max_prompt_tokens + config.max_new_tokens + REPLY_CLOSE
    seen = reward_scores(reward_model, tokenizer, [fitted] * 2, replies, max_length=length)
    uncut = reward_scores(reward_model, tokenizer, [LONG_PROMPT] * 2, replies, max_length=length)
    assert stats["reward"] == pytest.approx(sum(seen) / 2, abs=1e-5)
    assert stats["reward"] != pytest.approx(sum(uncut) / 2, abs=1e-5)


def test_a_reward_model_over_another_tokenizer_fails_at_start(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    policy_dir, reward_dir = models
    other = tmp_path / "rm-other"
    shutil.copytree(reward_dir, other)
    tokenizer = load_tokenizer(other)
    tokenizer.add_tokens(["<|tool|>"])
    tokenizer.save_pretrained(other)
    run = RunFolder(tmp_path / "run")
    with pytest.raises(
        TokenizerMismatch, match=f"policy {policy_dir} and the reward model {other}"
    ):
        train_ppo(policy_dir, other, run, PROMPTS, SMALL)
    assert not run.manifest_path.exists()  # refused before the run began


def test_prompts_fit_what_the_reward_model_reads(
    models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reward model trained on shorter texts (`train rm --max-length`) would cut the start
    of a full-budget prompt, system block first: PPO gives the policy less instead."""
    policy_dir, reward_dir = models
    short = tmp_path / "rm-short"
    shutil.copytree(reward_dir, short)
    tokenizer = load_tokenizer(short)
    tokenizer.model_max_length = SMALL.max_new_tokens + REPLY_CLOSE + 36
    tokenizer.save_pretrained(short)
    train_ppo(policy_dir, short, RunFolder(tmp_path / "run"), PROMPTS, replace(SMALL, steps=1))
    assert "ppo: prompts cut to 36 tokens (not max_prompt_tokens=48)" in capsys.readouterr().err
    tokenizer.model_max_length = SMALL.max_new_tokens + REPLY_CLOSE
    tokenizer.save_pretrained(short)
    with pytest.raises(DataError, match="no room for a prompt"):
        train_ppo(policy_dir, short, RunFolder(tmp_path / "run2"), PROMPTS, SMALL)


EVAL = EvalConfig(max_new_tokens=4, max_prompt_tokens=40, batch_size=2)


def test_eval_scores_the_prompts_its_models_answered(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    """`replyloop eval` cuts each prompt once, by whole turns: both models answer it and
    the reward model scores it as it was answered, system block and all."""
    policy_dir, reward_dir = models
    config = EVAL
    run = RunFolder(tmp_path / "eval")
    evaluate(policy_dir, policy_dir, reward_dir, [LONG_PROMPT, PROMPTS[0]], run, config, {})
    rows = [json.loads(line) for line in (run.root / "samples.jsonl").read_text().splitlines()]
    fitted = fit_prompt(load_tokenizer(policy_dir), LONG_PROMPT, config.max_prompt_tokens)
    assert rows[0]["prompt"] == fitted and fitted[0] == LONG_PROMPT[0]
    assert len(fitted) < len(LONG_PROMPT)
    scored = reward_scores(
        load_scorer(reward_dir).eval(),
        load_tokenizer(reward_dir),
        [fitted],
        [rows[0]["reply_a"]],
    )
    assert rows[0]["score_a"] == pytest.approx(scored[0], abs=1e-5)


def test_eval_refuses_a_baseline_over_another_tokenizer(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    policy_dir, reward_dir = models
    other = tmp_path / "baseline-other"
    shutil.copytree(policy_dir, other)
    tokenizer = load_tokenizer(other)
    tokenizer.add_tokens(["<|tool|>"])
    tokenizer.save_pretrained(other)
    with pytest.raises(TokenizerMismatch, match=f"the baseline {other}"):
        evaluate(policy_dir, other, reward_dir, PROMPTS, RunFolder(tmp_path / "e"), EVAL, {})


@pytest.fixture(scope="module")
def other_judge(models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reward model with other weights than PPO's: an independent judge."""
    policy_dir, _ = models
    judge = load_scorer(policy_dir)
    torch.manual_seed(2)
    with torch.no_grad():
        judge.score.weight.normal_(std=0.3)
    folder = tmp_path_factory.mktemp("judge") / "judge"
    judge.save_pretrained(folder)
    load_tokenizer(policy_dir).save_pretrained(folder)
    return folder


def test_eval_refuses_the_policys_training_reward_model_as_judge(
    models: tuple[Path, Path], trained: RunFolder, tmp_path: Path
) -> None:
    """The PPO run's own reward model, by its folder or by its weights under another
    folder, cannot judge it unless asked for; then the report says so."""
    policy_dir, reward_dir = models
    renamed = tmp_path / "same-weights"
    shutil.copytree(reward_dir, renamed)
    for judge in (reward_dir, renamed):
        with pytest.raises(TrainingJudge, match="the policy was trained against"):
            evaluate(
                trained.model_dir, policy_dir, judge, PROMPTS, RunFolder(tmp_path / "e"), EVAL, {}
            )
    assert not (tmp_path / "e" / "report.md").exists()
    allowed = replace(EVAL, allow_training_judge=True, best_of=0)
    summary = evaluate(
        trained.model_dir, policy_dir, reward_dir, PROMPTS, RunFolder(tmp_path / "a"), allowed, {}
    )
    assert summary["judge"]["independent"].startswith("no: the policy's training reward model")
    assert "independent of the policy's training reward model: no" in (
        (tmp_path / "a" / "report.md").read_text()
    )


def test_eval_reports_intervals_and_trivial_baselines(
    models: tuple[Path, Path], trained: RunFolder, other_judge: Path, tmp_path: Path
) -> None:
    policy_dir, reward_dir = models
    run = RunFolder(tmp_path / "eval")
    summary = evaluate(trained.model_dir, policy_dir, other_judge, PROMPTS, run, EVAL, {}, 4)
    # Other weights; what each learnt from is not on record, so they may overlap.
    assert summary["judge"]["independent"].startswith("yes: other weights, but its training")
    assert summary["judge"]["policy_training_rm"] == str(reward_dir.absolute())
    report = json.loads((run.root / "report.json").read_text())
    rows = report["rows"]
    assert list(rows) == [
        "policy",
        "baseline",
        "best of 4 under the training RM",
        "baseline cut to 12 words",
        'constant "ok"',
    ]
    for figures in [*rows.values(), report["win_rate"], report["kl_per_reply"]]:
        for figure in figures.values() if "value" not in figures else [figures]:
            assert figure["low"] <= figure["value"] <= figure["high"], figure
    ok = rows['constant "ok"']
    assert ok["distinct_share"]["value"] == pytest.approx(1 / len(PROMPTS))
    ok_tokens = load_tokenizer(policy_dir)("ok", add_special_tokens=False)["input_ids"]
    assert ok["on_topic_share"]["value"] == 0.0 and ok["length"]["value"] == len(ok_tokens)
    assert rows["baseline"]["win_rate"]["value"] == 0.5
    samples = [json.loads(line) for line in (run.root / "samples.jsonl").read_text().splitlines()]
    for row in samples:
        assert len(row["others"]["baseline cut to 12 words"]["reply"].split()) <= 12
    # The judge's score of the constant reply is the judge's, on the prompt as answered.
    fitted = fit_prompt(load_tokenizer(policy_dir), PROMPTS[0], EVAL.max_prompt_tokens)
    scored = reward_scores(
        load_scorer(other_judge).eval(), load_tokenizer(other_judge), [fitted], ["ok"]
    )
    assert samples[0]["others"]['constant "ok"']["score"] == pytest.approx(scored[0], abs=1e-5)
    text = (run.root / "report.md").read_text()
    assert '| constant "ok" |' in text and "from 4 conversations" in text
    assert "best-of-n: run: the baseline's best of 4 replies" in text
