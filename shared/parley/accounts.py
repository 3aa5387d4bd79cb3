"""Sign-up, log-in and sessions: plain functions over the user store, the password hasher and the token issuer.

A log-in (or sign-up) starts a session: a random id kept on the user's record and carried by the token as
``sid``. A token is honoured only while its session is live, and that is checked in the same single read
of the user record that already proved the user exists — so ending a session (log-out, log-out everywhere,
a password change) ends its tokens at once, everywhere, with no extra round trip.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from parley.config import ConfigurationError, Settings
from parley.devices import DeviceCookies
from parley.errors import AuthenticationFailed, InvalidToken, TooManyAttempts, TooManySignups
from parley.limits import RateLimit
from parley.model import UserRef, utcnow, valid_display_name, valid_password, valid_username
from parley.passwords import hash_password, needs_rehash, require_strong, verify_password
from parley.ports import LoginAttempts, RoomStore, SignupThrottle, StoredUser, UserStore
from parley.session_cookies import SessionCookies
from parley.tokens import Claims, TokenIssuer


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user: UserRef
    expires_at: datetime | None = None
    device_cookie: str | None = field(default=None, repr=False)  # a log-in's new device cookie (never in the body)
    session_cookie: str | None = field(default=None, repr=False)  # the browser's sign-in (parley.session_cookies)

    def to_json(self) -> dict:
        out = {"token": self.token, "user": self.user.to_json()}
        if self.expires_at is not None:
            out["expiresAt"] = int(self.expires_at.timestamp())
        return out


def token_issuer(settings: Settings) -> TokenIssuer:
    """The issuer with the signing key from the environment (``JWT_SECRET``: local mode, tests; one key that
    never changes), else the keys of the secret ``JWT_SECRET_ARN`` names (AWS): its current version signs, its
    previous one still verifies for ``settings.previous_key_window`` after a rotation, and both are re-read
    every ``secrets_max_age_seconds`` (``parley.adapters.secrets.SecretsManagerKeys``)."""
    if settings.jwt_secret is not None:
        return TokenIssuer(secret=settings.jwt_secret, issuer=settings.jwt_issuer, ttl_seconds=settings.token_ttl_seconds)
    if not settings.jwt_secret_arn:
        raise ConfigurationError("set JWT_SECRET_ARN (the stack's secret) or, locally, JWT_SECRET")
    from parley.adapters.secrets import SecretsManagerKeys

    keys = SecretsManagerKeys(
        settings.jwt_secret_arn,
        max_age=timedelta(seconds=settings.secrets_max_age_seconds),
        window=settings.previous_key_window,
    )
    return TokenIssuer(keys=keys, issuer=settings.jwt_issuer, ttl_seconds=settings.token_ttl_seconds)


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def _start(
    users: UserStore, issuer: TokenIssuer, user: UserRef, now: datetime | None = None,
    cookies: SessionCookies | None = None,
) -> Session:
    """A new session with its first token and, with ``cookies``, a session cookie: the session then lives on the
    user's record as long as the cookie (its record's expiry is only ever moved later, ``UserStore.renew_session``)."""
    now = now or utcnow()
    session_id, expires_at = new_session_id(), issuer.expiry(now=now)
    lives_until = max(expires_at, cookies.expiry(now=now)) if cookies is not None else expires_at
    users.start_session(user_id=user.id, session_id=session_id, expires_at=lives_until, now=now)
    cookie = cookies.issue(user_id=user.id, session_id=session_id, now=now) if cookies is not None else None
    return Session(token=issuer.issue(user, session_id=session_id, now=now), user=user, expires_at=expires_at,
                   session_cookie=cookie)


def signup(
    users: UserStore,
    issuer: TokenIssuer,
    *,
    username: str,
    password: str,
    throttle: SignupThrottle | None = None,
    limit: RateLimit | None = None,
    source_ip: str = "unknown",
    cookies: SessionCookies | None = None,
    display_name: str | None = None,
    now: datetime | None = None,
) -> Session:
    """With ``cookies``, the session also gets a session cookie (``Session.session_cookie``). ``display_name`` is
    optional (``parley.model.valid_display_name``: stored NFC-normalized and trimmed).

    Raises ``InvalidRequest`` (``WeakPassword`` for a blocklisted password), ``UsernameTaken`` (the name, or one
    that looks like it, exists) or ``TooManySignups`` (``limit`` per source address: counted once the input is
    valid, before the password is hashed, so a taken name counts and a malformed request does not)."""
    username, password = valid_username(username), valid_password(password)
    display_name = valid_display_name(display_name)
    require_strong(password, username=username)
    _count_signup(throttle, limit, source_ip=source_ip, now=now or utcnow())
    user = users.create(username=username, password_hash=hash_password(password), display_name=display_name)
    return _start(users, issuer, user.ref, cookies=cookies)


def _count_signup(throttle: SignupThrottle | None, limit: RateLimit | None, *, source_ip: str, now: datetime) -> None:
    """The sign-up throttle (apart from the log-in lock-out below: a sign-up is limited per address, not paused)."""
    if throttle is None or limit is None:
        return
    wait_ms = throttle.count(source_ip=source_ip, now=now, limit=limit)
    if wait_ms is not None:
        raise TooManySignups(max(1, math.ceil(wait_ms / 1000)))


def login(
    users: UserStore,
    issuer: TokenIssuer,
    *,
    username: str,
    password: str,
    attempts: LoginAttempts | None = None,
    source_ip: str = "unknown",
    devices: DeviceCookies | None = None,
    device_cookies: Iterable[str] = (),
    cookies: SessionCookies | None = None,
    now: datetime | None = None,
) -> Session:
    """Unknown user and wrong password fail alike (same error, same argon2 work); repeated failures pause
    log-ins with a bounded backoff, counted per (name, address), per address and per name (``adapters.mongo_accounts``).

    With ``devices``, a success also returns a new device cookie (``Session.device_cookie``), and a log-in that
    presents a valid one for this name (among ``device_cookies``) is from a known device: only that cookie's own
    failures pause it, never the per-name, per-address or per-pair counts an attacker elsewhere can run up
    (OWASP's device cookies, docs/reliability.md). A tampered, expired or other user's cookie counts as none."""
    now = now or utcnow()
    device = devices.nonce(device_cookies, username=username, now=now) if devices is not None else None
    _check_pause(attempts, username=username, source_ip=source_ip, now=now, device=device)
    user = users.by_username(username=username)
    # verify even for an unknown user (against a dummy hash) so both failures take the same time
    if not verify_password(user.password_hash if user else None, password) or user is None:
        if attempts is not None:
            attempts.record_failure(username=username, source_ip=source_ip, now=now, device=device)
        raise AuthenticationFailed()
    if attempts is not None:
        attempts.reset(username=username, source_ip=source_ip, device=device)
    if needs_rehash(user.password_hash):
        users.update_password_hash(user_id=user.id, password_hash=hash_password(password))
    session = _start(users, issuer, user.ref, now, cookies=cookies)
    if devices is None:
        return session
    # a new nonce at every log-in (OWASP): a cookie copied before it stops being this device's
    return replace(session, device_cookie=devices.issue(user.username, now=now))


def _check_pause(
    attempts: LoginAttempts | None, *, username: str, source_ip: str, now: datetime, device: str | None = None
) -> None:
    if attempts is not None:
        until = attempts.locked_until(username=username, source_ip=source_ip, device=device)
        if until is not None and until > now:
            raise TooManyAttempts(max(1, math.ceil((until - now).total_seconds())))


def current_session(users: UserStore, issuer: TokenIssuer, *, token: str | None) -> tuple[StoredUser, Claims]:
    """The user and claims of a bearer token whose user still exists and whose session is live (one read)."""
    claims = issuer.claims(token)
    stored = users.by_id(user_id=claims.user.id)
    if stored is None:
        raise InvalidToken("the token's user no longer exists")
    if claims.session_id not in stored.sessions:
        raise InvalidToken("the token's session has ended")
    return stored, claims


def refresh(
    users: UserStore, issuer: TokenIssuer, *, claims: Claims, user: UserRef | None = None, now: datetime | None = None
) -> Session:
    """A new token for the same live session, valid for the full lifetime from now; ``user`` (the stored user's
    ref, read with the token) is what the answer names, display name included (the token carries none)."""
    now = now or utcnow()
    expires_at = issuer.expiry(now=now)
    if not users.renew_session(user_id=claims.user.id, session_id=claims.session_id, expires_at=expires_at):
        raise InvalidToken("the token's session has ended")
    token = issuer.issue(claims.user, session_id=claims.session_id, now=now)
    return Session(token=token, user=user if user is not None and user.id == claims.user.id else claims.user,
                   expires_at=expires_at)


def resume(
    users: UserStore, issuer: TokenIssuer, *, cookies: SessionCookies, cookie: str | None, now: datetime | None = None
) -> Session:
    """A new token for the live session a session cookie names, and the cookie again with a new expiry (one read,
    one write). Raises ``InvalidToken`` for a missing, tampered or expired cookie, or one whose session has ended
    (log-out, log-out everywhere, a password change elsewhere, or the user is gone)."""
    now = now or utcnow()
    ref = cookies.read(cookie, now=now)
    if ref is None:
        raise InvalidToken("no valid session cookie")
    stored = users.by_id(user_id=ref.user_id)
    if stored is None or ref.session_id not in stored.sessions:
        raise InvalidToken("the cookie's session has ended")
    expires_at = issuer.expiry(now=now)
    lives_until = max(expires_at, cookies.expiry(now=now))
    if not users.renew_session(user_id=stored.id, session_id=ref.session_id, expires_at=lives_until):
        raise InvalidToken("the cookie's session has ended")
    return Session(
        token=issuer.issue(stored.ref, session_id=ref.session_id, now=now), user=stored.ref, expires_at=expires_at,
        session_cookie=cookies.issue(user_id=stored.id, session_id=ref.session_id, now=now),
    )


def set_display_name(users: UserStore, rooms: RoomStore | None, *, user: StoredUser, display_name: object) -> StoredUser:
    """Set, or with None clear, the user's display name (``parley.model.valid_display_name``; raises
    ``InvalidRequest``): the user's record, then, with ``rooms``, every membership of theirs (member lists show
    it at once). Two writes whatever the number of rooms. Connections keep the name they were opened with: what a
    connection sends, and its presence, carry the new name from the next connection (docs/protocol.md)."""
    name = valid_display_name(display_name)
    updated = users.set_display_name(user_id=user.id, display_name=name)
    if updated is None:  # deleted meanwhile
        raise InvalidToken("the token's user no longer exists")
    if rooms is not None:
        rooms.show_display_name(user=updated.ref)
    return updated


def logout(users: UserStore, *, claims: Claims) -> None:
    users.end_sessions(user_id=claims.user.id, session_id=claims.session_id)


def logout_everywhere(users: UserStore, *, claims: Claims) -> None:
    users.end_sessions(user_id=claims.user.id)


def change_password(
    users: UserStore,
    *,
    user: StoredUser,
    claims: Claims,
    current: str,
    new: str,
    attempts: LoginAttempts | None = None,
    source_ip: str = "unknown",
    now: datetime | None = None,
) -> None:
    """Check ``current``, store ``new`` (blocklist applies) and end every session but this one.

    Raises ``AuthenticationFailed`` for a wrong current password (counted like a failed log-in),
    ``TooManyAttempts`` while those are paused, ``InvalidRequest``/``WeakPassword``."""
    new, now = valid_password(new), now or utcnow()
    _check_pause(attempts, username=user.username, source_ip=source_ip, now=now)
    if not verify_password(user.password_hash, current):
        if attempts is not None:
            attempts.record_failure(username=user.username, source_ip=source_ip, now=now)
        raise AuthenticationFailed()
    require_strong(new, username=user.username)
    users.change_password(user_id=user.id, password_hash=hash_password(new), keep=claims.session_id)
