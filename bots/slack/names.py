"""People's names, looked up once per process: the text the model reads says "Kai: lunch at
noon?" rather than Slack's "<@U07ABC>: ...".

users.info (the `users:read` scope) gives a person's display name; it is asked once per
person and process, then remembered for the process's life (a renamed person keeps the old
name until a restart). Where Slack will not say (no `users:read`, a deleted account), the
id stands in, and is remembered too: one refused call per person, not one per message.
Each name used (or id standing in) is also recorded in the store (core.store.people), once
per person and process: `feedback export` replaces those names with pseudonyms.
"""

from __future__ import annotations

import logging
import threading
from functools import cache

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bots.slack.translate import PLATFORM, display_name
from core.store import Store
from core.store.people import remember_name

log = logging.getLogger(__name__)


class Names:
    """user id -> display name, through one Web API client; names recorded in `store`."""

    def __init__(self, client: WebClient, store: Store) -> None:
        self.client = client
        self.store = store
        self.known: dict[str, str] = {}
        self.lock = threading.Lock()  # Bolt runs listeners on a thread pool

    def __call__(self, user: str) -> str:
        with self.lock:
            if user in self.known:
                return self.known[user]
        name = self._look_up(user)
        # Recorded before any message carries it: an export never meets a name it cannot
        # replace. Two threads asking at once may both record it; the store keeps one.
        remember_name(self.store, PLATFORM, user, name)
        with self.lock:
            return self.known.setdefault(user, name)

    def _look_up(self, user: str) -> str:
        try:
            found = self.client.users_info(user=user).get("user") or {}
        except SlackApiError as exc:
            log.warning(
                "users.info %s refused (%s): the id stands for the name (is users:read granted?)",
                user,
                exc.response.get("error"),
            )
            return user
        return display_name(found) or user


@cache
def names(client: WebClient, store: Store) -> Names:
    """The process's names for this client (bots.slack.web keeps one client per token)."""
    return Names(client, store)
