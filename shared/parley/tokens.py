"""JWTs: HS256 only (pinned on decode), ``exp`` required, issuer checked; ``sid`` names the session the token
belongs to (a log-in starts one; renewing keeps it; log-out ends it), so a token can be ended before ``exp``.

Keys rotate without signing anyone out. Every token carries its key's id in the ``kid`` header. A ``KeyRing``
holds the current key (signs and verifies) and the previous one (verifies only, until ``previous_until``);
a ``KeySource`` supplies the ring (``StaticKeys``: one key from the environment, locally and in tests;
``parley.adapters.secrets.SecretsManagerKeys``: the AWSCURRENT and AWSPREVIOUS versions of the stack's secret).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

import jwt

from parley.errors import InvalidToken
from parley.model import UserRef

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "sid"]
STATIC_KID = "env"  # the one key of StaticKeys (JWT_SECRET)
MAX_KID = 128


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says: its user, its session and when it expires."""

    user: UserRef
    session_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One HMAC key and its id (the ``kid`` header of the tokens it signs)."""

    kid: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The keys a token may be verified with at a moment: ``current`` (which signs) always; ``previous`` only
    before ``previous_until`` (None with a previous key means no limit: StaticKeys never has one)."""

    current: SigningKey
    previous: SigningKey | None = None
    previous_until: datetime | None = None

    def knows(self, kid: str) -> bool:
        """Whether ``kid`` is one of this ring's keys, retired or not (an unknown one may be newer than the ring)."""
        return kid == self.current.kid or (self.previous is not None and kid == self.previous.kid)

    def accepted(self, now: datetime) -> tuple[SigningKey, ...]:
        """The keys that verify at ``now``: the current one, and the previous one within its window."""
        if self.previous is None or self.previous.kid == self.current.kid:
            return (self.current,)
        if self.previous_until is not None and now >= self.previous_until:
            return (self.current,)
        return (self.current, self.previous)


class KeySource(Protocol):
    def ring(self) -> KeyRing:
        """The keys as last read (a source re-reads them when its cache is older than its max age)."""

    def refresh(self) -> KeyRing:
        """Re-read the keys now, because a token names a key the ring does not know (it may be newer). A source
        may answer from its cache when asked too often, so unknown ids cannot make it hammer its store."""


@dataclass(frozen=True, slots=True)
class StaticKeys:
    """One key that never changes (JWT_SECRET: local mode, tests, ``sam local invoke``)."""

    secret: str = field(repr=False)
    kid: str = STATIC_KID

    def ring(self) -> KeyRing:
        return KeyRing(current=SigningKey(kid=self.kid, secret=self.secret))

    def refresh(self) -> KeyRing:
        return self.ring()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class TokenIssuer:
    """Issues and checks tokens. ``TokenIssuer(secret=...)`` is one static key; ``keys=`` a rotating source.

    ``clock`` decides only whether the previous key is still within its window (``exp`` and ``iat`` are
    checked by PyJWT against the real time)."""

    __slots__ = ("keys", "issuer", "ttl_seconds", "clock")

    def __init__(
        self,
        secret: str | None = None,
        *,
        keys: KeySource | None = None,
        issuer: str = "parley",
        ttl_seconds: int = 12 * 3600,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if (secret is None) == (keys is None):
            raise ValueError("give a TokenIssuer either secret or keys")
        self.keys: KeySource = keys if keys is not None else StaticKeys(secret)
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds
        self.clock = clock

    def __repr__(self) -> str:  # never the key
        return f"TokenIssuer(issuer={self.issuer!r}, ttl_seconds={self.ttl_seconds})"

    @property
    def secret(self) -> str:
        """The current signing key (``parley.devices`` derives the device-cookie key from it)."""
        return self.keys.ring().current.secret

    def issue(self, user: UserRef, *, session_id: str, now: datetime | None = None) -> str:
        """A token signed with the current key, its id in the ``kid`` header."""
        now = now or datetime.now(timezone.utc)
        claims = {
            "sub": user.id,
            "sid": session_id,
            "username": user.username,
            "iat": now,
            "exp": self.expiry(now=now),
            "iss": self.issuer,
        }
        key = self.keys.ring().current
        return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})

    def expiry(self, *, now: datetime | None = None) -> datetime:
        """When a token issued ``now`` expires (whole seconds, as the ``exp`` claim keeps it)."""
        now = now or datetime.now(timezone.utc)
        return datetime.fromtimestamp(int((now + timedelta(seconds=self.ttl_seconds)).timestamp()), timezone.utc)

    def verify(self, token: str | None) -> UserRef:
        """The user a valid token names; anything else raises ``InvalidToken`` (never says why to the client)."""
        return self.claims(token).user

    def claims(self, token: str | None) -> Claims:
        """User, session and expiry of a valid token; anything else raises ``InvalidToken``.

        The key is the one the ``kid`` header names, if the ring accepts it now: the current key, or the
        previous one within its window (a retired previous key is refused). A ``kid`` the ring does not know
        makes the source re-read its keys once (a container may not have seen a rotation yet). A token with no
        ``kid`` (issued before tokens had one) is tried against each accepted key."""
        if not token or not isinstance(token, str) or len(token) > 4096:
            raise InvalidToken("missing or oversized token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > MAX_KID):
            raise InvalidToken("malformed key id")
        candidates = self._keys_for(kid, self.clock())
        if not candidates:
            raise InvalidToken("unknown or retired signing key")
        claims = None
        for key in candidates:
            try:
                claims = jwt.decode(
                    token,
                    key.secret,
                    algorithms=[ALGORITHM],
                    issuer=self.issuer,
                    options={"require": REQUIRED_CLAIMS},
                    leeway=5,
                )
                break
            except jwt.InvalidSignatureError as exc:
                if key is candidates[-1]:
                    raise InvalidToken(type(exc).__name__) from None
            except jwt.PyJWTError as exc:
                raise InvalidToken(type(exc).__name__) from None
        assert claims is not None
        sub, username, sid = claims.get("sub"), claims.get("username"), claims.get("sid")
        if not isinstance(sub, str) or not sub or not isinstance(username, str) or not username:
            raise InvalidToken("token lacks sub or username")
        if not isinstance(sid, str) or not sid or len(sid) > 64:
            raise InvalidToken("token lacks a session id")
        exp = datetime.fromtimestamp(int(claims["exp"]), timezone.utc)
        return Claims(user=UserRef(id=sub, username=username), session_id=sid, expires_at=exp)

    def _keys_for(self, kid: str | None, now: datetime) -> tuple[SigningKey, ...]:
        ring = self.keys.ring()
        if kid is None:
            return ring.accepted(now)
        if not ring.knows(kid):
            ring = self.keys.refresh()
        return tuple(k for k in ring.accepted(now) if k.kid == kid)
