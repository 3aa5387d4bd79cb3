"""Session cookies: the long-lived sign-in of a browser (issue 23), apart from the short access token.

A log-in or sign-up hands the browser an HttpOnly, SameSite=Strict cookie, sent only to ``POST /auth/session``,
that names the user and the *session* the log-in started, signed with HMAC: ``USERID.SESSIONID.EXPIRES.SIGNATURE``.
``POST /auth/session`` trades it for a fresh access token, so a new tab or a restarted browser is signed in
without any token in storage that scripts can read (the page keeps its token in memory only).

The cookie is honoured only while its session is live on the user's record (the same check every token gets,
``accounts.current_session``): log-out, log-out everywhere and a password change end the session and so the
cookie too, with no list of cookies to revoke. It is not rotated on use: every tab of a browser shares it, and a
rotation would let two tabs starting at once log each other out. Each use re-issues it with a new expiry (a
sliding lifetime), which is as harmless to repeat as the use itself.

The key is derived from the JWT signing key over a label of its own (as ``parley.devices`` does), so a session
cookie's signature is neither a token's nor a device cookie's.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from parley import signing
from parley.model import utcnow

COOKIE = "parley-session"  # on plain-HTTP localhost; "__Secure-parley-session" wherever the cookie is Secure
SECURE_PREFIX = "__Secure-"
COOKIE_PATH = "/auth/session"  # the browser sends it to nothing else: not the page, the API or the sockets
LIFETIME = timedelta(days=30)  # a browser that does not open the page for this long signs in again
_LABEL = b"parley session cookie v1"
_VALUE = re.compile(r"^([a-z0-9]{1,64})\.([A-Za-z0-9_-]{1,64})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")


def cookie_name(*, secure: bool) -> str:
    return SECURE_PREFIX + COOKIE if secure else COOKIE


@dataclass(frozen=True, slots=True)
class SessionRef:
    """What a valid cookie names: a user and one of their sessions (live or not: the caller checks)."""

    user_id: str
    session_id: str


@dataclass(frozen=True)
class SessionCookies:
    """Issues and reads session cookies with a key derived from ``secret`` (the JWT signing key)."""

    secret: str = field(repr=False)

    def _sign(self, payload: str) -> str:
        return signing.sign(self.secret, _LABEL, payload)

    def expiry(self, *, now: datetime | None = None) -> datetime:
        """When a cookie issued ``now`` expires (whole seconds)."""
        return datetime.fromtimestamp(int(((now or utcnow()) + LIFETIME).timestamp()), timezone.utc)

    def issue(self, *, user_id: str, session_id: str, now: datetime | None = None) -> str:
        payload = f"{user_id}.{session_id}.{int(self.expiry(now=now).timestamp())}"
        return f"{payload}.{self._sign(payload)}"

    def read(self, value: str | None, *, now: datetime | None = None) -> SessionRef | None:
        """The user and session of a well-signed, unexpired cookie; None for anything else."""
        match = _VALUE.match(value or "")
        if match is None:
            return None
        user_id, session_id, expires, signature = match.groups()
        if not hmac.compare_digest(signature, self._sign(value[: -len(signature) - 1])):
            return None
        if int(expires) <= int((now or utcnow()).timestamp()):
            return None
        return SessionRef(user_id=user_id, session_id=session_id)
