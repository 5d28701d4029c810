"""bench/loop end to end on a tiny model (`--tiny`): real workers chat, raters vote through
the vote task, and export, train rm, train ppo and model promote run as commands; round 1
is served by the promoted model. The figures of a tiny random model mean nothing: this
checks the loop's wiring, the real run's figures are in bench/RESULTS.md."""

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
    assert "approval gain" in done.stdout and "KL(new || old)" in done.stdout
    report = json.loads((out / "loop-report.json").read_text())
    store = open_store(sqlite_url)
    ppo = registry.promoted(store)
    assert ppo is not None and ppo.kind == "ppo" and ppo.version == report["promoted"]
    models = {record.kind: record for record in registry.list_models(store)}
    assert sorted(models) == ["local", "ppo", "rm"]  # local: the model round 0 served
    assert models["local"].version == ppo.parent
    assert models["rm"].parent == ppo.parent  # both start from the model round 0 served
    assert report["round0"]["model_versions"] != [ppo.version]
    assert report["round1"]["model_versions"] == [ppo.version]  # served without a restart
    assert report["round0"]["replies"] == 24 and report["round0"]["votes"] == 48
    assert report["round1"]["replies"] == 16 and report["round1"]["votes"] == 32
    exported = (out / "round0.kto.jsonl").read_text().splitlines()
    assert 0 < len(exported) <= 24  # one row a reply, ties left out
    assert report["kl_per_reply"] >= 0.0 and report["reward_model"]["train_votes"] > 0
