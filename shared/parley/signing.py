"""HMAC-SHA256 signatures for the cookies Parley issues (device cookies, session cookies): each kind signs with
its own key, derived from the JWT signing key and the kind's label, so a signature of one kind is no signature of
another and no second secret has to be deployed."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: str, label: bytes, payload: str) -> str:
    """The URL-safe base64 (unpadded, 43 characters) HMAC-SHA256 of ``payload`` under ``secret``'s key for ``label``."""
    key = hmac.new(secret.encode(), label, hashlib.sha256).digest()
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")
