"""JWTs: HS256 only (pinned on decode), ``exp`` required, issuer checked; ``sid`` names the session the token
belongs to (a log-in starts one; renewing keeps it; log-out ends it), so a token can be ended before ``exp``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt

from parley.errors import InvalidToken
from parley.model import UserRef

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "sid"]


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says: its user, its session and when it expires."""

    user: UserRef
    session_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    secret: str
    issuer: str = "parley"
    ttl_seconds: int = 12 * 3600

    def issue(self, user: UserRef, *, session_id: str, now: datetime | None = None) -> str:
        now = now or datetime.now(timezone.utc)
        claims = {
            "sub": user.id,
            "sid": session_id,
            "username": user.username,
            "iat": now,
            "exp": self.expiry(now=now),
            "iss": self.issuer,
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def expiry(self, *, now: datetime | None = None) -> datetime:
        """When a token issued ``now`` expires (whole seconds, as the ``exp`` claim keeps it)."""
        now = now or datetime.now(timezone.utc)
        return datetime.fromtimestamp(int((now + timedelta(seconds=self.ttl_seconds)).timestamp()), timezone.utc)

    def verify(self, token: str | None) -> UserRef:
        """The user a valid token names; anything else raises ``InvalidToken`` (never says why to the client)."""
        return self.claims(token).user

    def claims(self, token: str | None) -> Claims:
        """User, session and expiry of a valid token; anything else raises ``InvalidToken``."""
        if not token or not isinstance(token, str) or len(token) > 4096:
            raise InvalidToken("missing or oversized token")
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        sub, username, sid = claims.get("sub"), claims.get("username"), claims.get("sid")
        if not isinstance(sub, str) or not sub or not isinstance(username, str) or not username:
            raise InvalidToken("token lacks sub or username")
        if not isinstance(sid, str) or not sid or len(sid) > 64:
            raise InvalidToken("token lacks a session id")
        exp = datetime.fromtimestamp(int(claims["exp"]), timezone.utc)
        return Claims(user=UserRef(id=sub, username=username), session_id=sid, expires_at=exp)
