"""A canary beside the promoted model in a gpu worker (core.store.canaries).

While a canary runs, the worker holds its model as well as the promoted one: loaded when
the canary starts (once a second the worker looks, with the registry), asked for each
conversation in the canary's share, dropped when the canary ends. A conversation newer
than any the worker has seen makes it look at once, before its reply is begun: a canary
takes the conversations begun after it started (core.store.canaries), so a worker that
looks after a conversation began knows whether that conversation is the canary's, and its
first reply comes from the same model as the rest. On a GPU it is loaded
only when the memory free holds ROOM times its weights (the KV budget then counts both
models' caches: workers.scheduler); otherwise the worker logs why and answers every
conversation with the promoted model, so the canary's arm gets its replies from the
workers that could load it.

Every `canary_check_every_s` a thread of the process looks at the canary's votes
(core.store.canaries.check) and acts on what the sequential test decides (core.sequential):
promoted when better, stopped when worse or inconclusive. Every gpu worker looks; a
canary ends once, whoever sees it first.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from core.store import Store, canaries, registry
from core.store.canaries import Canary
from workers.engine import Engine
from workers.models import ModelSource

log = logging.getLogger(__name__)

ROOM = 1.5  # GPU memory free, in multiples of the canary's weights, to load it beside
WEIGHTS = ("*.safetensors", "*.bin", "*.gguf")


class CanaryModel:
    def __init__(
        self,
        store: Callable[[], Store],
        load: Callable[[ModelSource, float], Engine | None],
        check_every_s: float,
    ) -> None:
        self._store = store
        self._load = load  # None when it cannot be loaded (logged, tried again later)
        self.check_every_s = check_every_s
        self._served: tuple[Canary, Engine] | None = None  # swapped whole: read by intake
        self._serving: str | None = None  # the version the other conversations get
        self._no_room: set[str] = set()  # versions logged as not fitting
        self._pid: int | None = None
        self._newest = -1  # the newest conversation that existed at the last look

    @property
    def served(self) -> tuple[Canary, Engine] | None:
        return self._served

    def engine_for(self, conversation_id: int, main: Engine, now: float) -> Engine | None:
        """The canary's engine for a conversation in its share; None: the promoted one's
        (`main`). On the decoding thread: a conversation newer than the last look makes it
        look again first."""
        if conversation_id > self._newest:  # begun after the last look: look again
            self.follow(main, None, now)
        served = self._served
        if served is None:
            return None
        canary, engine = served
        return engine if canary.model_for(conversation_id) == canary.version else None

    def follow(self, main: Engine, promoted: str | None, now: float) -> None:
        """Load the running canary's model, or drop the one that ended; on the decoding
        thread, with its once-a-second look at the registry (`promoted`: the version it
        names; None: unknown here, as last told)."""
        if promoted is not None or self._serving is None:
            self._serving = promoted or main.version
        try:
            # One look settles every conversation begun before it: a flood of new ones
            # costs a look an admission round, not one each.
            canary, self._newest = canaries.look(self._store())
        except SQLAlchemyError as exc:
            log.warning("cannot read the running canary (%s); going on as before", exc)
            return
        if canary is not None:
            self._start_checks()  # looks at the votes from the first canary on
        if canary is None or canary.incumbent != main.version:
            if self._served is not None:
                log.info("canary %s no longer served here", self._served[1].version)
                self._served = None
            return
        served = self._served
        engine = served[1] if served is not None else None
        if engine is None or engine.version != canary.version:
            engine = self._load_canary(canary, main, now)
            if engine is None:
                return
            log.info(
                "serving canary %s to %d%% of conversations beside %s",
                canary.version,
                canary.share,
                main.version,
            )
        self._served = (canary, engine)

    def _load_canary(self, canary: Canary, main: Engine, now: float) -> Engine | None:
        record = registry.find(self._store(), canary.version)
        if record is None:  # pragma: no cover - a canary's model is registered to start
            return None
        source = ModelSource(Path(record.path), record.version)
        if not self._room(main, source):
            return None
        return self._load(source, now)

    def _room(self, main: Engine, source: ModelSource) -> bool:
        """Whether the canary's model fits beside `main`: on a GPU, ROOM times its weights
        free; on a CPU, always (the machine's memory is the operator's to size)."""
        if main.device.type != "cuda":
            return True
        import torch

        free, _total = torch.cuda.mem_get_info(main.device)
        weights = sum(f.stat().st_size for pattern in WEIGHTS for f in source.path.glob(pattern))
        if free >= ROOM * weights:
            return True
        if source.version not in self._no_room:
            self._no_room.add(source.version)
            log.error(
                "canary %s needs about %.1f GB beside %s and %.1f GB is free: not loaded "
                "here; its share of conversations gets %s from this worker",
                source.version,
                ROOM * weights / 1e9,
                main.version,
                free / 1e9,
                main.version,
            )
        return False

    def _start_checks(self) -> None:
        # Threads do not survive fork: a prefork child starts its own.
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        threading.Thread(target=self._check_every, name="canary-check", daemon=True).start()

    def _check_every(self) -> None:
        while True:
            time.sleep(self.check_every_s)
            serving = self._serving
            if serving is not None:
                self.check(serving)

    def check(self, serving: str) -> None:
        """One look at the running canary's votes; what it decides is logged."""
        try:
            found = canaries.check(self._store(), serving)
        except SQLAlchemyError as exc:
            log.warning("cannot look at the canary's votes (%s); next time", exc)
            return
        if found is None:
            return
        canary, decision = found
        if canary.verdict is not None:
            log.warning(
                "canary %s ended %s: approval %+.1f points against %s, interval "
                "[%+.1f, %+.1f], p %.3g%s",
                canary.version,
                canary.verdict,
                100 * decision.difference,
                canary.incumbent,
                100 * decision.bound[0],
                100 * decision.bound[1],
                decision.p_value,
                "; promoted" if canary.verdict == "better" else "",
            )
