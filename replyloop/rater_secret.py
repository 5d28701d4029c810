"""The raters' HMAC key, in one place: exports hash raters and pseudonymise people with
it, and `replyloop forget` names whom it erased with it, so all of them agree."""

from __future__ import annotations

from core.anonymize import load_or_create_secret
from core.settings import Settings


def rater_secret(settings: Settings) -> bytes:
    """REPLYLOOP_RATER_SECRET, else the key made once in the data folder."""
    if settings.rater_secret:
        return settings.rater_secret.get_secret_value().encode()
    return load_or_create_secret(settings.data_dir / "rater_secret")
