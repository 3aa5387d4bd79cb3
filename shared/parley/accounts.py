"""Sign-up and log-in: plain functions over the user store, the password hasher and the token issuer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from parley.config import ConfigurationError, Settings
from parley.errors import AuthenticationFailed, InvalidToken, TooManyAttempts
from parley.model import UserRef, utcnow, valid_password, valid_username
from parley.passwords import hash_password, needs_rehash, verify_password
from parley.ports import LoginAttempts, UserStore
from parley.tokens import TokenIssuer


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    user: UserRef

    def to_json(self) -> dict:
        return {"token": self.token, "user": self.user.to_json()}


def token_issuer(settings: Settings) -> TokenIssuer:
    """The issuer with the signing key from the environment (local) or Secrets Manager (AWS)."""
    secret = settings.jwt_secret
    if secret is None:
        if not settings.jwt_secret_arn:
            raise ConfigurationError("set JWT_SECRET_ARN (the stack's secret) or, locally, JWT_SECRET")
        from parley.adapters.secrets import read_secret

        secret = read_secret(settings.jwt_secret_arn)
    return TokenIssuer(secret=secret, issuer=settings.jwt_issuer, ttl_seconds=settings.token_ttl_seconds)


def signup(users: UserStore, issuer: TokenIssuer, *, username: str, password: str) -> Session:
    username, password = valid_username(username), valid_password(password)
    user = users.create(username=username, password_hash=hash_password(password))
    return Session(token=issuer.issue(user.ref), user=user.ref)


def login(
    users: UserStore,
    issuer: TokenIssuer,
    *,
    username: str,
    password: str,
    attempts: LoginAttempts | None = None,
    now: datetime | None = None,
) -> Session:
    """Unknown user and wrong password fail alike (same error, same argon2 work); repeated failures for one
    name pause its log-ins with a bounded backoff, whether or not the name exists."""
    now = now or utcnow()
    if attempts is not None:
        until = attempts.locked_until(username=username)
        if until is not None and until > now:
            raise TooManyAttempts(max(1, math.ceil((until - now).total_seconds())))
    user = users.by_username(username=username)
    # verify even for an unknown user (against a dummy hash) so both failures take the same time
    if not verify_password(user.password_hash if user else None, password) or user is None:
        if attempts is not None:
            attempts.record_failure(username=username, now=now)
        raise AuthenticationFailed()
    if attempts is not None:
        attempts.reset(username=username)
    if needs_rehash(user.password_hash):
        users.update_password_hash(user_id=user.id, password_hash=hash_password(password))
    return Session(token=issuer.issue(user.ref), user=user.ref)


def current_user(users: UserStore, issuer: TokenIssuer, *, token: str | None) -> UserRef:
    """The user a bearer token names, if that user still exists."""
    claimed = issuer.verify(token)
    stored = users.by_id(user_id=claimed.id)
    if stored is None:
        raise InvalidToken("the token's user no longer exists")
    return stored.ref
