"""The io worker loads only its own queue's tasks: a real `replyloop worker io` never
imports torch or transformers, at start or while it runs a task.

Python's own import log (PYTHONPROFILEIMPORTTIME: one stderr line a module imported, for
the whole life of the process) is the witness, and the process's memory map: torch's
shared library is mapped the moment torch is imported.
"""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from tests.integration.workers import start_workers, worker_env
from wire.app import configure
from wire.messages import CastVote
from wire.tasks import ask

TASK_TIMEOUT_S = 120.0  # one vote task; generous, the machine may be loaded
HEAVY = ("torch", "transformers")


def imported_modules(log: str) -> set[str]:
    """The modules an import-time log names ("import time: self | cumulative | name").

    >>> sorted(imported_modules("import time: 12 |  30 |   celery.app\\nother line"))
    ['celery.app']
    """
    found = set()
    for line in log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            found.add(line.rsplit("|", 1)[1].strip())
    return found


def test_the_io_worker_never_imports_torch(
    tmp_path: Path, worker_broker: str, tiny_model: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'replyloop.sqlite3'}"
    env = worker_env(worker_broker, database_url, tiny_model, tmp_path)
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    started = start_workers(env, tmp_path, queues=("io",))
    try:
        configure(Settings(_env_file=None, broker_url=worker_broker, database_url=database_url))
        # A task that runs through the worker's store: it answers for a reply never made.
        result = ask(CastVote(turn_id=987654, rater="r", value=1, source="terminal"))
        answer = result.get(timeout=TASK_TIMEOUT_S)
        assert answer["ok"] is False and "987654" in answer["error"], answer
        maps = Path(f"/proc/{started.workers[0].process.pid}/maps").read_text()
    finally:
        started.stop()
    log = started.workers[0].text()
    modules = imported_modules(log)
    assert "bots.votes" in modules and "celery" in modules, log[-3000:]  # the witness works
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"the io worker imported {heavy[:10]}"
    assert "libtorch" not in maps
