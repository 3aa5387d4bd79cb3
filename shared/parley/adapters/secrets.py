"""Reads the stack's secrets from AWS Secrets Manager: the JWT signing keys, the MongoDB URI and the edge secret.

Both are re-read while a container lives, so a rotation needs no redeploy (docs/architecture.md, "Secrets"):

- the MongoDB URI through Powertools Parameters (``SecretsProvider.get`` with ``max_age``): a warm container
  sees a new URI within ``Settings.secrets_max_age_seconds``, and at once when the database refuses its
  credentials (``parley.adapters.mongo.RenewableDatabase`` forces a read and rebuilds the client);
- the JWT keys (``SecretsManagerKeys``): the secret's AWSCURRENT version signs, its AWSPREVIOUS version still
  verifies for a window after the rotation. The version's id is the token's ``kid``.

Nothing here logs or raises with a secret's value in it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from parley.config import ConfigurationError, Settings, check_mongodb_uri, check_signing_key
from parley.tokens import KeyRing, SigningKey

log = logging.getLogger("parley.secrets")


def mongodb_uri(settings: Settings) -> str:
    """The MongoDB URI: ``MONGODB_URI`` when given (local mode, tests), else the value of the secret
    ``MONGODB_URI_SECRET_ARN`` names (the URI itself, as plain text), read now. Raises ``ConfigurationError``
    when neither is set or the secret does not hold a MongoDB URI (the message never contains the value)."""
    if settings.mongodb_uri:
        return settings.mongodb_uri
    return mongodb_uri_reader(settings)(True)


def mongodb_uri_reader(settings: Settings, *, client=None) -> Callable[[bool], str]:
    """A function ``read(force)`` that answers the URI in ``MONGODB_URI_SECRET_ARN``'s secret from a cache kept
    ``secrets_max_age_seconds`` (Powertools Parameters), or read from Secrets Manager when ``force`` is true.
    Each answer is checked like ``mongodb_uri``'s. ``client``: a boto3 Secrets Manager client (tests)."""
    if not settings.mongodb_uri_secret_arn:
        raise ConfigurationError("set MONGODB_URI_SECRET_ARN (the stack's secret) or, locally, MONGODB_URI")
    from aws_lambda_powertools.utilities.parameters import SecretsProvider  # imports boto3: only when used

    provider = SecretsProvider(boto3_client=client) if client is not None else SecretsProvider()
    arn, max_age, local = settings.mongodb_uri_secret_arn, settings.secrets_max_age_seconds, settings.local

    def read(force: bool = False) -> str:
        value = provider.get(arn, max_age=max_age, force_fetch=force)
        uri = value.strip() if isinstance(value, str) else ""
        try:
            check_mongodb_uri(uri, local=local)
        except ConfigurationError:
            raise ConfigurationError(
                "the secret MONGODB_URI_SECRET_ARN names must hold a mongodb:// or mongodb+srv:// URI as plain text"
            ) from None
        return uri

    return read


def edge_secret_reader(settings: Settings, *, client=None) -> Callable[[], str | None]:
    """A function answering the secret CloudFront adds to the API's origin requests (``X-Parley-Edge``), or None
    when there is none (no distribution in front: every request is keyed by its own source address).

    ``EDGE_SECRET`` when given (local mode, tests); else ``EDGE_SECRET_ARN``'s secret, read through Powertools
    Parameters and cached ``secrets_max_age_seconds`` like the MongoDB URI. A read that fails answers None (the
    request is then keyed by API Gateway's sourceIp, as a direct call is) and logs the error's type, never a value.
    ``client``: a boto3 Secrets Manager client (tests)."""
    if settings.edge_secret:
        value = settings.edge_secret
        return lambda: value
    if not settings.edge_secret_arn:
        return lambda: None
    from aws_lambda_powertools.utilities.parameters import SecretsProvider  # imports boto3: only when used

    provider = SecretsProvider(boto3_client=client) if client is not None else SecretsProvider()
    arn, max_age = settings.edge_secret_arn, settings.secrets_max_age_seconds

    def read() -> str | None:
        try:
            value = provider.get(arn, max_age=max_age)
        except Exception as exc:  # never the value; the caller falls back to sourceIp
            log.error("could not read the edge secret", extra={"error": type(exc).__name__})
            return None
        value = value.strip() if isinstance(value, str) else ""
        return value or None

    return read


def mongodb_database(settings: Settings):
    """The database the stores use: ``MONGODB_URI``'s, fixed (local mode, tests); else a
    ``RenewableDatabase`` over the secret (its URI read now, so a bad secret fails the import, as before)."""
    from parley.adapters import mongo

    if settings.mongodb_uri:
        return mongo.database(settings.mongodb_uri, settings.mongodb_db)
    return mongo.RenewableDatabase(settings.mongodb_db, mongodb_uri_reader(settings))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SecretsManagerKeys:
    """The JWT keys in one Secrets Manager secret, as a ``parley.tokens.KeySource``.

    - The AWSCURRENT version signs; its ``VersionId`` is the ``kid``. ``put-secret-value`` with a new random key
      is the whole rotation: Secrets Manager moves AWSCURRENT to the new version and AWSPREVIOUS to the old one.
    - The AWSPREVIOUS version verifies until ``window`` after the current version's ``CreatedDate`` (the
      rotation), then is refused. Removing the AWSPREVIOUS label refuses it as soon as containers re-read.
    - Both are re-read when the ring is older than ``max_age``; ``refresh`` (a token with an unknown ``kid``)
      re-reads at once, and then not again for ``min_refresh`` (so made-up ids cannot hammer Secrets Manager).
    - A re-read that fails (Secrets Manager unreachable, a version that is not a usable key) keeps the keys
      already read, logs the error's type and is tried again after ``min_refresh``; the first read raises.

    Not through Powertools: its cache is keyed by the secret's name alone (a ``VersionStage`` option would
    share AWSCURRENT's cache entry), and it keeps only the value, not ``VersionId`` and ``CreatedDate``.
    SAM's AWSSecretsManagerGetSecretValuePolicy allows GetSecretValue on the secret's ARN, every version.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        max_age: timedelta,
        window: timedelta,
        min_refresh: timedelta = timedelta(seconds=10),
        client=None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("secretsmanager")
        self._id, self._client, self._clock = secret_id, client, clock
        self._max_age, self._window, self._min_refresh = max_age, window, min_refresh
        self._lock = threading.Lock()
        self._ring: KeyRing = self._read()  # the first read raises: a container without keys must not start
        self._read_at = clock()
        self._forced_at = datetime.min.replace(tzinfo=timezone.utc)

    def ring(self) -> KeyRing:
        if self._clock() - self._read_at >= self._max_age:
            self._reload()
        return self._ring

    def refresh(self) -> KeyRing:
        now = self._clock()
        if now - self._forced_at >= self._min_refresh:  # counted from the last forced read, not the last read
            self._forced_at = now
            self._reload()
        return self._ring

    def _reload(self) -> None:
        with self._lock:
            now = self._clock()
            try:
                self._ring = self._read()
                self._read_at = now
            except Exception as exc:  # keep serving with the keys we have; never the value in the log
                log.error("could not re-read the JWT keys; keeping the ones read before", extra={"error": type(exc).__name__})
                self._read_at = now - self._max_age + self._min_refresh

    def _read(self) -> KeyRing:
        current = self._client.get_secret_value(SecretId=self._id, VersionStage="AWSCURRENT")
        try:
            previous = self._client.get_secret_value(SecretId=self._id, VersionStage="AWSPREVIOUS")
        except self._client.exceptions.ResourceNotFoundException:  # never rotated, or the label was removed
            previous = None
        return KeyRing(
            current=_key(current),
            previous=_key(previous) if previous is not None else None,
            previous_until=_aware(current["CreatedDate"]) + self._window,
        )


def _key(version: dict) -> SigningKey:
    secret = version.get("SecretString")
    if not isinstance(secret, str):
        raise ConfigurationError("the JWT secret's versions must hold the key as a string")
    try:
        check_signing_key(secret)
    except ConfigurationError:
        raise ConfigurationError("a version of the JWT secret is not a random key of at least 32 bytes") from None
    return SigningKey(kid=version["VersionId"], secret=secret)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
