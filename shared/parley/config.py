"""One settings object, built from the environment once per container."""

from __future__ import annotations

import os
import secrets as _secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from parley.errors import ConfigurationError
from parley.limits import SIGNUP_WINDOW, Limits, RateLimit

PLACEHOLDERS = {"", "changeme", "change-me", "changethis", "secret", "dev", "test", "placeholder"}
MIN_SECRET_BYTES = 32
# Local mode without JWT_SECRET: one random key per process (the local gateway runs every function in
# one process, so the auth function and the authorizer agree on it).
_LOCAL_SECRET = _secrets.token_urlsafe(48)


@dataclass(frozen=True, kw_only=True)
class Settings:
    env: str = "aws"
    mongodb_uri: str = ""  # given directly (local mode, tests); in AWS the URI is in Secrets Manager instead
    mongodb_uri_secret_arn: str | None = None  # re-read every secrets_max_age_seconds (parley.adapters.secrets)
    mongodb_db: str = "parley"
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_secret_arn: str | None = None
    jwt_issuer: str = "parley"
    # the shared secret CloudFront adds to the API's origin requests (X-Parley-Edge): only a request carrying it may
    # name its viewer (CloudFront-Viewer-Address); the value locally and in tests, the secret's ARN in AWS
    edge_secret: str | None = field(default=None, repr=False)
    edge_secret_arn: str | None = None
    token_ttl_seconds: int = 12 * 3600
    # how long a container keeps a secret it read before reading it again (the MongoDB URI, the JWT keys): a
    # rotation reaches every warm container within this time (docs/architecture.md, "Secrets")
    secrets_max_age_seconds: int = 300
    # how long after a JWT key rotation (the new AWSCURRENT version's creation) the previous key still verifies;
    # None: a token's lifetime plus secrets_max_age_seconds, so no token signed with it is refused before its exp
    jwt_previous_key_seconds: int | None = None
    management_api_endpoint: str | None = None
    websocket_url: str | None = None
    allowed_origins: tuple[str, ...] = ()
    page_origin: str | None = None  # the authorizer's: the HTTP API that serves the page (its sockets carry it)
    broadcast_concurrency: int = 64
    fanout_function: str | None = None  # big fan-outs are split across invocations of this function
    fanout_slice: int = 125  # recipients per invocation (and the most posted without one)
    message_retention_days: int = 0  # 0 keeps messages forever; else a TTL index deletes older ones
    metrics_namespace: str = "Parley"
    tracing: bool = False  # X-Ray via Powertools Tracer, only when POWERTOOLS_TRACE_DISABLED=false (make run: never)
    # rate limits (uses per window; per user, join per connection) and the per-user connection cap; defaults = the
    # template's (parley.limits)
    rate_limit_window_seconds: int = 30
    send_message_limit: int = 30
    typing_limit: int = 30
    join_limit: int = 60
    create_room_limit: int = 10
    open_direct_limit: int = 30
    add_member_limit: int = 30
    history_limit: int = 120
    signup_limit: int = 20  # per source address per hour (the auth function's)
    max_connections_per_user: int = 10

    @property
    def local(self) -> bool:
        return self.env == "local"

    @property
    def previous_key_window(self) -> timedelta:
        """How long the previous JWT key still verifies after a rotation (``jwt_previous_key_seconds``)."""
        if self.jwt_previous_key_seconds is not None:
            return timedelta(seconds=self.jwt_previous_key_seconds)
        return timedelta(seconds=self.token_ttl_seconds + self.secrets_max_age_seconds)

    @property
    def limits(self) -> Limits:
        window = timedelta(seconds=self.rate_limit_window_seconds)
        return Limits(
            send=RateLimit(self.send_message_limit, window),
            typing=RateLimit(self.typing_limit, window),
            join=RateLimit(self.join_limit, window),
            create_room=RateLimit(self.create_room_limit, window),
            open_direct=RateLimit(self.open_direct_limit, window),
            add_member=RateLimit(self.add_member_limit, window),
            history=RateLimit(self.history_limit, window),
            signup=RateLimit(self.signup_limit, SIGNUP_WINDOW),
            connections_per_user=self.max_connections_per_user,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        mode = env.get("PARLEY_ENV", "aws").strip().lower() or "aws"
        if mode not in ("aws", "local"):
            raise ConfigurationError(f"PARLEY_ENV must be 'aws' or 'local', got {mode!r}")
        local = mode == "local"
        uri_arn = env.get("MONGODB_URI_SECRET_ARN", "").strip() or None
        # local mode never reads Secrets Manager: MONGODB_URI, else the in-memory database
        uri = env.get("MONGODB_URI", "").strip() or ("mongomock://localhost" if local else "")
        if uri:  # else (AWS) the functions that use MongoDB read it from uri_arn (FanoutFunction has neither)
            check_mongodb_uri(uri, local=local)
        secret = env.get("JWT_SECRET") or None
        arn = env.get("JWT_SECRET_ARN") or None
        if secret is not None:
            _check_secret(secret, local=local)
        elif local:
            secret = _LOCAL_SECRET
        return cls(
            env=mode,
            mongodb_uri=uri,
            mongodb_uri_secret_arn=uri_arn,
            mongodb_db=env.get("MONGODB_DB", "parley") or "parley",
            jwt_secret=secret,
            jwt_secret_arn=arn,
            jwt_issuer=env.get("JWT_ISSUER", "parley") or "parley",
            edge_secret=env.get("EDGE_SECRET") or None,
            edge_secret_arn=env.get("EDGE_SECRET_ARN", "").strip() or None,
            token_ttl_seconds=_int(env, "TOKEN_TTL_SECONDS", 12 * 3600, low=60, high=30 * 86400),
            secrets_max_age_seconds=_int(env, "SECRETS_MAX_AGE_SECONDS", 300, low=1, high=3600),
            jwt_previous_key_seconds=(
                _int(env, "JWT_PREVIOUS_KEY_SECONDS", 0, low=0, high=31 * 86400)
                if env.get("JWT_PREVIOUS_KEY_SECONDS") not in (None, "") else None
            ),
            management_api_endpoint=env.get("MANAGEMENT_API_ENDPOINT") or None,
            websocket_url=env.get("WEBSOCKET_URL") or None,
            allowed_origins=tuple(o.strip().rstrip("/") for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip()),
            page_origin=env.get("PAGE_ORIGIN", "").strip().rstrip("/") or None,
            broadcast_concurrency=_int(env, "BROADCAST_CONCURRENCY", 64, low=1, high=512),
            fanout_function=env.get("FANOUT_FUNCTION") or None,
            fanout_slice=_int(env, "FANOUT_SLICE", 125, low=1, high=10_000),
            message_retention_days=_int(env, "MESSAGE_RETENTION_DAYS", 0, low=0, high=36_500),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE", "Parley") or "Parley",
            tracing=env.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in ("false", "0"),
            rate_limit_window_seconds=_int(env, "RATE_LIMIT_WINDOW_SECONDS", 30, low=1, high=3600),
            send_message_limit=_int(env, "SEND_MESSAGE_LIMIT", 30, low=1, high=1000),
            typing_limit=_int(env, "TYPING_LIMIT", 30, low=1, high=1000),
            join_limit=_int(env, "JOIN_LIMIT", 60, low=1, high=1000),
            create_room_limit=_int(env, "CREATE_ROOM_LIMIT", 10, low=1, high=1000),
            open_direct_limit=_int(env, "OPEN_DIRECT_LIMIT", 30, low=1, high=1000),
            add_member_limit=_int(env, "ADD_MEMBER_LIMIT", 30, low=1, high=1000),
            history_limit=_int(env, "HISTORY_LIMIT", 120, low=1, high=1000),
            signup_limit=_int(env, "SIGNUP_LIMIT", 20, low=1, high=10_000),
            max_connections_per_user=_int(env, "MAX_CONNECTIONS_PER_USER", 10, low=1, high=1000),
        )


def check_mongodb_uri(uri: str, *, local: bool) -> None:
    """Raise ``ConfigurationError`` unless ``uri`` is a MongoDB URI this mode may use (never echoes it)."""
    if uri.startswith("mongomock://") and not local:
        raise ConfigurationError("the in-memory mongomock:// database is for PARLEY_ENV=local only")
    if not uri.startswith(("mongodb://", "mongodb+srv://", "mongomock://")):
        raise ConfigurationError("MONGODB_URI must start with mongodb:// or mongodb+srv://")


def check_signing_key(secret: str) -> None:
    """Raise ``ConfigurationError`` unless ``secret`` could be a random JWT key (never echoes it)."""
    _check_secret(secret, local=False)


def _check_secret(secret: str, *, local: bool) -> None:
    if local:
        return
    if secret.strip().lower() in PLACEHOLDERS or len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"JWT_SECRET must be a random value of at least {MIN_SECRET_BYTES} bytes outside local mode "
            "(the stack generates one in Secrets Manager: leave JWT_SECRET unset and set JWT_SECRET_ARN)"
        )


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, got {value}")
    return value
