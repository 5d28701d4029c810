"""The smart bot's callback crypto: WeCom's scheme on wechatpy's primitives, over JSON.

The smart bot signs and encrypts like a self-built app (SHA-1 over the sorted token,
timestamp, nonce and ciphertext; AES-256-CBC with the EncodingAESKey, PKCS#7 to 32 bytes),
but its bodies are JSON (`{"encrypt": ...}`), and the id inside the ciphertext is the empty
string for a company's own bot, not the corp id. wechatpy has the primitives
(`PrpCrypto`, `_get_signature`), not this envelope.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from wechatpy.crypto import _get_signature
from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.exceptions import InvalidSignatureException

RECEIVE_ID = ""  # a company's own smart bot


class BotCrypto:
    def __init__(self, token: str, aes_key: str) -> None:
        self.token = token
        self.key = base64.b64decode(aes_key + "=")
        if len(self.key) != 32:
            raise ValueError("WECOM_BOT_AES_KEY must be the 43-character EncodingAESKey")

    def open(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """The plaintext of `encrypted` once its signature holds; InvalidSignatureException
        (before any decryption) when it does not."""
        if not secrets.compare_digest(
            _get_signature(self.token, timestamp, nonce, encrypted), signature
        ):
            raise InvalidSignatureException()
        return str(PrpCrypto(self.key).decrypt(encrypted, RECEIVE_ID))

    def open_json(self, signature: str, timestamp: str, nonce: str, body: bytes) -> dict[str, Any]:
        """A callback's JSON message, from its body `{"encrypt": ...}`."""
        envelope = json.loads(body)
        encrypted = envelope.get("encrypt") if isinstance(envelope, dict) else None
        if not isinstance(encrypted, str):
            raise ValueError("no encrypt field")
        message = json.loads(self.open(signature, timestamp, nonce, encrypted))
        if not isinstance(message, dict):
            raise ValueError("not a JSON object inside")
        return message

    def seal(self, message: dict[str, Any], nonce: str, timestamp: int | None = None) -> bytes:
        """A passive reply's body: `message` encrypted and signed, with the callback's
        nonce."""
        stamp = str(timestamp or int(time.time()))
        plain = json.dumps(message, ensure_ascii=False)
        encrypted = PrpCrypto(self.key).encrypt(plain, RECEIVE_ID)
        encrypted = encrypted.decode() if isinstance(encrypted, bytes) else str(encrypted)
        envelope = {
            "encrypt": encrypted,
            "msgsignature": _get_signature(self.token, stamp, nonce, encrypted),
            "timestamp": int(stamp),
            "nonce": nonce,
        }
        return json.dumps(envelope).encode()
