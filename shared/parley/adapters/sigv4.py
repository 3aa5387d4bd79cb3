"""AWS Signature Version 4 for one kind of request: ``{stage}/@connections/{id}`` (POST, GET, DELETE) to ``execute-api``.

botocore re-derives the signing key and builds generic canonical forms for every request; this signer
caches the key per (day, secret) and signs only the headers it sends (both timed in docs/benchmarks.md,
"Where one post's time goes"). ``tests/test_sigv4.py`` checks every signature against botocore's ``SigV4Auth``.

Credentials come from the environment (where Lambda puts them); elsewhere from botocore's provider
chain (profiles, SSO), imported only then.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

SERVICE = "execute-api"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


class NoCredentials(RuntimeError):
    """Neither the environment nor botocore's provider chain holds AWS credentials."""


_provider_lock = threading.Lock()
_provider: list = []  # botocore's (refreshing) credentials, resolved once per process when needed


def current_credentials() -> Credentials:
    """Read for every broadcast, so rotated keys are picked up."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)
    with _provider_lock:
        if not _provider:
            import botocore.session  # profiles, SSO, instance roles: only where the environment has no keys

            _provider.append(botocore.session.get_session().get_credentials())
        found = _provider[0]
    if found is None:
        raise NoCredentials("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile")
    frozen = found.get_frozen_credentials()
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class Signer:
    """Signs POSTs for one region; thread-safe (the cached key is replaced, never mutated)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._key: tuple[str, str, bytes] = ("", "", b"")

    def _signing_key(self, day: str, secret: str) -> bytes:
        cached_day, cached_secret, key = self._key
        if cached_day != day or cached_secret != secret:
            key = _hmac(("AWS4" + secret).encode(), day)
            for part in (self.region, SERVICE, "aws4_request"):
                key = _hmac(key, part)
            self._key = (day, secret, key)
        return key

    def headers(self, *, host: str, path: str, body: bytes, credentials: Credentials,
                now: datetime | None = None, method: str = "POST") -> dict[str, str]:
        """The headers to send with ``POST path`` (``path`` as it goes on the wire, already URL-encoded):
        host, x-amz-date, x-amz-security-token when there is one, and authorization."""
        amz_date = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        signed = {"host": host, "x-amz-date": amz_date}
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = sorted(signed)
        canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
        signed_headers = ";".join(names)
        # Every service but S3 signs the path URI-encoded once more (an id's "=" is "%3D" on the wire, "%253D" here).
        canonical_request = "\n".join(
            (method, quote(path, safe="/~"), "", canonical_headers, signed_headers, hashlib.sha256(body).hexdigest())
        )
        scope = f"{day}/{self.region}/{SERVICE}/aws4_request"
        string_to_sign = "\n".join(
            ("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
        )
        signature = hmac.new(self._signing_key(day, credentials.secret_key), string_to_sign.encode(),
                             hashlib.sha256).hexdigest()
        signed["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}"
        )
        return signed
