"""A gpu worker's claims on the requests it holds (wire.claims): renewed every
CLAIM_EVERY_S on a thread of their own, so a long generation or a busy decoding thread
never lets one lapse while the worker lives."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from wire.claims import CLAIM_EVERY_S, Claims

log = logging.getLogger(__name__)


def keep_claimed(claims: Claims, held: Callable[[], list[int]]) -> threading.Thread:
    """Start renewing the claims on `held()` (the message ids this process holds now)."""

    def renew() -> None:
        while True:
            try:
                if ids := held():
                    claims.hold(ids)
            except Exception as exc:  # noqa: BLE001 - Redis away: the next round tries again
                log.warning("cannot renew claims (%r)", exc)
            time.sleep(CLAIM_EVERY_S)

    thread = threading.Thread(target=renew, name="claims", daemon=True)
    thread.start()
    return thread
