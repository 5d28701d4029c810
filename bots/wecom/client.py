"""The WeCom API client the io worker uses: wechatpy's, with the API base and the access
token made right for more than one process.

- Every call, the token fetch included, goes to `WECOM_API_URL` (wechatpy hard-wires
  `gettoken` to the public host).
- The access token is kept in Redis (with a broker; in memory when embedded), so every
  replica and worker shares one token instead of each fetching its own.
- A call WeCom answers with an expired or invalid token (40001, 40014, 42001) fetches a new
  token and is tried again once, not in a loop (wechatpy's own retry would loop).
"""

from __future__ import annotations

import hashlib
import logging
from functools import cache
from typing import Any

import redis
from wechatpy.enterprise.client import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from bots.wecom.settings import WeComSettings

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid credential, invalid or expired token
TRANSIENT_ERRCODES = frozenset({-1, 45009, 45033})  # busy, API rate, concurrent calls
TOKEN_PREFIX = "replyloop:wecom"


class WeComClient(WeChatClient):  # type: ignore[misc]
    def __init__(self, corp_id: str, secret: str, api_url: str, session: Any) -> None:
        self.API_BASE_URL = api_url
        super().__init__(corp_id, secret, session=session, timeout=10, auto_retry=False)

    @property
    def access_token_key(self) -> str:
        # wechatpy puts ten characters of the secret in the key: a digest instead.
        digest = hashlib.sha256(self.secret.encode()).hexdigest()[:16]
        return f"{self.corp_id}:{digest}:access_token"

    def fetch_access_token(self) -> Any:
        log.info("fetching a WeCom access token")
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.secret},
        )

    def call(self, endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
        """POST `data` to `endpoint`; a stale token is replaced and the call tried again,
        once."""
        try:
            result: dict[str, Any] = self.post(endpoint, data=data)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("WeCom says the access token is stale (%s): fetching a new one", exc.errcode)
            self.fetch_access_token()
            result = self.post(endpoint, data=data)
        return result


@cache
def _client(corp_id: str, secret: str, api_url: str, broker_url: str | None) -> WeComClient:
    session: Any = MemoryStorage()
    if broker_url:
        session = RedisStorage(redis.Redis.from_url(broker_url), prefix=TOKEN_PREFIX)
    return WeComClient(corp_id, secret, api_url, session)


def wecom_client(settings: WeComSettings) -> WeComClient:
    if settings.wecom_secret is None or not settings.wecom_corp_id:
        raise RuntimeError("WECOM_CORP_ID and WECOM_SECRET must be set to send to WeCom")
    return _client(
        settings.wecom_corp_id,
        settings.wecom_secret.get_secret_value(),
        settings.wecom_api_url,
        settings.broker_url,
    )
