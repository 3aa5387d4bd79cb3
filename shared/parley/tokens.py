"""JWTs: HS256 only (pinned on decode), ``exp`` required, issuer checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt

from parley.errors import InvalidToken
from parley.model import UserRef

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss"]


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    secret: str
    issuer: str = "parley"
    ttl_seconds: int = 12 * 3600

    def issue(self, user: UserRef, *, now: datetime | None = None) -> str:
        now = now or datetime.now(timezone.utc)
        claims = {
            "sub": user.id,
            "username": user.username,
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl_seconds),
            "iss": self.issuer,
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str | None) -> UserRef:
        """The user a valid token names; anything else raises ``InvalidToken`` (never says why to the client)."""
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
        sub, username = claims.get("sub"), claims.get("username")
        if not isinstance(sub, str) or not sub or not isinstance(username, str) or not username:
            raise InvalidToken("token lacks sub or username")
        return UserRef(id=sub, username=username)
