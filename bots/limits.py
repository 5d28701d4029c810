"""How many messages a person, and a chat, get answered in a window (Settings.user_limit,
chat_limit, rate_window_s): one person sending hundreds of messages must not slow every
other chat's replies (issue 20: 300 messages to one DM took others' replies from 0.5 s to
3.0 s).

A fixed window that starts at a key's first message: simple, and at worst twice the limit
across a window's edge. A message over the person's limit does not count against the
chat's, so one flooder in a group never silences the others there. The first message over
a limit in a window is `told` (the chat gets one polite notice), later ones are not.

With a broker the counts are Redis keys, counted and checked in one Lua script (atomic,
shared by every adapter replica); embedded (one process, no Redis) they are a dictionary.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis
from redis.exceptions import RedisError

from core.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "replyloop:limit:"

# What the chat is told, once a window, by which limit its message went over.
SLOW_DOWN = {
    "user": "You are sending messages faster than I can answer them, so I have kept your "
    "latest ones without replying. Please give me a minute before the next one. Thank you!",
    "chat": "This chat is sending messages faster than I can answer them, so I have kept the "
    "latest ones without replying. Please give me a minute before the next one. Thank you!",
}

# KEYS: the person's count, whether they were told; the chat's count, whether it was told.
# ARGV: the person's limit, the chat's limit (0: none), the window in seconds.
# Returns {over (0 no, 1 the person's limit, 2 the chat's), told (1: tell them now)}.
# The told key lives exactly as long as the count it belongs to: once per window.
_COUNT = """
local window = tonumber(ARGV[3])
local function over(count, told, limit)
  if limit <= 0 then return false, 0 end
  local n = redis.call('INCR', count)
  if n == 1 then redis.call('EXPIRE', count, window) end
  if n <= limit then return false, 0 end
  local ttl = redis.call('PTTL', count)
  if ttl <= 0 then ttl = window * 1000 end
  if redis.call('SET', told, '1', 'NX', 'PX', ttl) then return true, 1 end
  return true, 0
end
local hit, tell = over(KEYS[1], KEYS[2], tonumber(ARGV[1]))
if hit then return {1, tell} end
hit, tell = over(KEYS[3], KEYS[4], tonumber(ARGV[2]))
if hit then return {2, tell} end
return {0, 0}
"""


@dataclass(frozen=True)
class Verdict:
    """Whether a message is over a limit (`over`: "user" or "chat"; None: answer it), and
    whether this one is the first over it in its window (`told`: say so now)."""

    over: str | None = None
    told: bool = False


ANSWER = Verdict()
_OVER = {1: "user", 2: "chat"}


class Limits:
    def __init__(
        self, redis_url: str | None, user_limit: int, chat_limit: int, window_s: int
    ) -> None:
        self.user_limit, self.chat_limit, self.window_s = user_limit, chat_limit, window_s
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        self._script = self._redis.register_script(_COUNT) if self._redis else None
        # key -> [count, window end (monotonic), told]: embedded only
        self._counts: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            settings.broker_url, settings.user_limit, settings.chat_limit, settings.rate_window_s
        )

    def check(self, platform: str, chat_key: str, author: str) -> Verdict:
        """Count one message by `author` in `chat_key`, and say whether it is over."""
        if self.user_limit <= 0 and self.chat_limit <= 0:
            return ANSWER
        user, chat = f"{PREFIX}user:{platform}:{author}", f"{PREFIX}chat:{platform}:{chat_key}"
        if self._script is not None:
            keys = [user, f"{user}:told", chat, f"{chat}:told"]
            args = [self.user_limit, self.chat_limit, self.window_s]
            try:
                over, told = self._script(keys=keys, args=args)
            except RedisError as exc:  # a message is never lost to its count: answered
                log.warning("cannot count %s's message (%r): not limited", author, exc)
                return ANSWER
            return Verdict(_OVER.get(int(over)), bool(int(told)))
        with self._lock:
            now = time.monotonic()
            if len(self._counts) > 10_000:
                self._counts = {k: c for k, c in self._counts.items() if c[1] > now}
            for key, limit in ((user, self.user_limit), (chat, self.chat_limit)):
                if limit <= 0:
                    continue
                count = self._counts.get(key)
                if count is None or count[1] <= now:
                    count = self._counts[key] = [0, now + self.window_s, 0]
                count[0] += 1
                if count[0] > limit:
                    told, count[2] = not count[2], 1
                    return Verdict("user" if key == user else "chat", bool(told))
        return ANSWER
