"""Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies").

A successful log-in hands the browser a cookie that binds the user name to a random nonce, signed with HMAC:
``NAME.EXPIRES.NONCE.SIGNATURE`` (OWASP's ``LOGIN,NONCE,SIGNATURE`` with dots, since a comma may not appear in a
cookie value, and with the cookie's expiry signed in, so a copied cookie does not stay good for ever). A log-in
that presents a valid cookie for the name it signs in is from a *known device*: it is not subject to the per-name
lock-out that a distributed attack can trigger, and its own failures lock only that nonce (``accounts.login``).

The key is derived from the JWT signing key (HMAC-SHA256 over a fixed label), so there is no second secret to
deploy and the cookie's signature can never be mistaken for a token's. Rotating the JWT key makes every device
unknown again, which only means the per-name throttle applies to it until its next log-in.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from parley import signing
from parley.model import utcnow

COOKIE = "parley-device"  # on plain-HTTP localhost; "__Secure-parley-device" wherever the cookie is Secure
SECURE_PREFIX = "__Secure-"
# Only the log-in route needs the cookie: a browser sends it nowhere else (not to the page, the API, or sockets).
COOKIE_PATH = "/auth/login"
LIFETIME = timedelta(days=180)  # a device not used to sign in for this long is unknown again
_LABEL = b"parley device cookie v1"
_VALUE = re.compile(r"^([A-Za-z0-9_.-]{1,64})\.(\d{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$")


def cookie_name(*, secure: bool) -> str:
    return SECURE_PREFIX + COOKIE if secure else COOKIE


@dataclass(frozen=True)
class DeviceCookies:
    """Issues and checks device cookies with a key derived from ``secret`` (the JWT signing key)."""

    secret: str = field(repr=False)

    def _sign(self, payload: str) -> str:
        return signing.sign(self.secret, _LABEL, payload)

    def issue(self, username: str, *, now: datetime | None = None) -> str:
        expires = int(((now or utcnow()) + LIFETIME).timestamp())
        payload = f"{username.lower()}.{expires}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{self._sign(payload)}"

    def nonce(self, values: Iterable[str], *, username: str, now: datetime | None = None) -> str | None:
        """The nonce of the first of ``values`` that is a well-signed, unexpired cookie for ``username`` (any
        letter case); None when there is none (no cookie, tampered, expired, or another user's: an unknown device).
        """
        now_s = int((now or utcnow()).timestamp())
        for value in values:
            match = _VALUE.match(value or "")
            if match is None:
                continue
            name, expires, nonce, signature = match.groups()
            # the name's dots are the user name's own: the signature covers everything before the last dot
            payload = value[: -len(signature) - 1]
            if not hmac.compare_digest(signature, self._sign(payload)):
                continue
            if name != username.lower() or int(expires) <= now_s:
                continue
            return nonce
        return None
