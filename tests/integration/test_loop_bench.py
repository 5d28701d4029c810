"""bench/loop end to end on a tiny model (`--tiny`): real workers chat, raters vote through
the vote task, and export, train rm (twice: the training RM and the judge), train ppo and
model promote run as commands; round 1 is served by the promoted model; eval judges the
policy and the trivial baselines by the judge RM and the raters' rule. The figures of a
tiny random model mean nothing: this checks the loop's wiring, the real run's figures are
in bench/RESULTS.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core.store import open_store, registry

ROOT = Path(__file__).resolve().parents[2]


def test_the_loop_closes_on_a_tiny_model(
    worker_broker: str, sqlite_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "loop"
    done = subprocess.run(
        [sys.executable, "-m", "bench.loop", "--tiny", "--out", str(out),
         "--broker", worker_broker, "--database", sqlite_url],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert "check trivial:" in done.stdout and "over seeds [0]" in done.stdout
    report = json.loads((out / "seed-0" / "loop-report.json").read_text())
    store = open_store(sqlite_url)
    ppo = registry.promoted(store)
    assert ppo is not None and ppo.kind == "ppo" and ppo.version == report["promoted"]
    models = registry.list_models(store)
    assert sorted(m.kind for m in models) == ["local", "ppo", "rm", "rm"]
    local = next(m for m in models if m.kind == "local")  # the model round 0 served
    assert local.version == ppo.parent
    assert all(m.parent == ppo.parent for m in models if m.kind == "rm")
    served = report["served"]
    assert served["round0"]["model_versions"] != [ppo.version]
    assert served["round1"]["model_versions"] == [ppo.version]  # served without a restart
    assert served["round0"]["replies"] == 64 and 0 < served["round0"]["votes"] < 64 * 4
    assert served["round1"]["replies"] == 12
    rows = report["rows"]
    assert sorted(rows) == sorted(
        ["policy", "baseline", 'constant "ok"', "baseline cut to 12 words",
         "best of 2 under the training RM"]
    )  # fmt: skip
    assert rows['constant "ok"']["approval"]["value"] == 0.0  # "ok" answers nothing
    for row in rows.values():
        assert row["approval"]["low"] <= row["approval"]["value"] <= row["approval"]["high"]
        assert "judge_score" in row and "win_rate" in row
    judge = report["judge"]
    assert "independent" in json.dumps(judge).lower() or judge
    exported = (out / "seed-0" / "round0.kto.jsonl").read_text().splitlines()
    assert 0 < len(exported) <= 64  # one row a rated reply, ties left out
    assert report["kl_per_reply"]["value"] >= 0.0
    assert report["reward_model"]["train_votes"] > 0 and report["judge_model"]["train_votes"] > 0
