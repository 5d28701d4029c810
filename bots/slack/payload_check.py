"""A Bolt middleware that answers 400 to a signed request whose payload Bolt cannot read.

Bolt hands a function middleware (our `gate`) and every listener its arguments by reading
each part of the payload eagerly (`action`, `view`, `event`, `message`, ...,
slack_bolt.kwargs_injection): a block action with no `actions`, or an `event` that is not
an object, raises there, and Bolt answers 500, which Slack retries. This check reads the
same parts first, in a class middleware (Bolt calls those with the request alone), after
Bolt's own signature check and before anything of ours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_bolt.request.payload_utils import (
    to_action,
    to_command,
    to_event,
    to_message,
    to_options,
    to_shortcut,
    to_step,
    to_view,
)

log = logging.getLogger(__name__)

READERS = (to_options, to_shortcut, to_action, to_view, to_command, to_event, to_message, to_step)


def unreadable(body: object) -> str | None:
    """Why Bolt could not read `body` (a parsed payload), or None.

    >>> unreadable({"type": "block_actions", "actions": []})
    'IndexError'
    >>> unreadable({"type": "event_callback", "event": {"type": "app_mention"}}) is None
    True
    >>> unreadable({"type": "block_actions", "actions": [None]})  # its matchers read action_id
    'TypeError'
    """
    try:
        for read in READERS:
            read(body)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - any error of Bolt's readers is the answer
        return type(exc).__name__
    actions = body.get("actions") if isinstance(body, dict) else None
    if isinstance(actions, list) and not all(
        isinstance(action, dict) and "action_id" in action for action in actions
    ):
        return "TypeError"  # what Bolt's action matchers raise reading `action_id`
    return None


class PayloadCheck(Middleware):  # type: ignore[misc]
    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],  # noqa: A002 - Bolt's name
    ) -> BoltResponse | None:
        why = unreadable(req.body)
        if why is not None:
            log.warning("refused a signed request whose payload Bolt cannot read (%s)", why)
            return BoltResponse(status=400, body="malformed payload")
        return next()
