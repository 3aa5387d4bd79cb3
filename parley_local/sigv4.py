"""Checking AWS Signature Version 4 on the local gateway's AWS endpoints (Lambda Invoke, @connections).

AWS refuses a request whose signature it cannot verify with a 403 and an error type in ``x-amzn-ErrorType``;
the checks and their error types here follow AWS's: no ``Authorization`` (MissingAuthenticationToken), a
malformed one (IncompleteSignatureException), an access key or session token the stack does not know
(UnrecognizedClientException), a scope for another service or region, a clock more than 5 minutes off, or a
signature that does not match (InvalidSignatureException). The expected signature is computed by botocore's
``SigV4Auth`` rules over the request as it arrived (with botocore's path normalization, held to botocore's
answer by a test), so it is the one boto3 (and anything signing like it) sends.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

from botocore.auth import SIGNED_HEADERS_BLACKLIST
from botocore.utils import normalize_url_path

_NEVER_SIGNED = frozenset(SIGNED_HEADERS_BLACKLIST)  # botocore leaves these out of the canonical request
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
MAX_SKEW = timedelta(minutes=5)  # AWS: "Signature expired" / "Signature not yet current"
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<day>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;._-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class StackCredentials:
    """The access key the local stack's functions get (AWS_ACCESS_KEY_ID and friends)."""

    access_key: str
    secret_key: str
    token: str | None = None

    def for_boto3(self) -> dict[str, str | None]:
        return {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key,
                "aws_session_token": self.token}


class SignatureRefused(Exception):
    def __init__(self, error_type: str, message: str, status: int = 403) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type, self.message, self.status = error_type, message, status


def verify(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    service: str,
    region: str,
    known: Mapping[str, StackCredentials],
    missing_type: str = "MissingAuthenticationTokenException",
    now: datetime | None = None,
) -> StackCredentials:
    """The credentials that signed the request; raises ``SignatureRefused`` as AWS would refuse it.

    ``url`` is the request's URL as it went on the wire (path and query still encoded)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization", "")
    if not authorization:
        raise SignatureRefused(missing_type, "Missing Authentication Token")
    found = _AUTHORIZATION.match(authorization.strip())
    if found is None:
        raise SignatureRefused("IncompleteSignatureException",
                               "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters "
                               "of an AWS4-HMAC-SHA256 signature.")
    credentials = known.get(found["key"])
    if credentials is None or (credentials.token or None) != (lowered.get("x-amz-security-token") or None):
        raise SignatureRefused("UnrecognizedClientException", "The security token included in the request is invalid.")
    if found["service"] != service:
        raise SignatureRefused("InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'.")
    if found["region"] != region:
        raise SignatureRefused("InvalidSignatureException",
                               f"Credential should be scoped to a valid region, not '{found['region']}'.")
    signed_names = found["signed"].split(";")
    if "host" not in signed_names or "x-amz-date" not in signed_names or any(n not in lowered for n in signed_names):
        raise SignatureRefused("InvalidSignatureException", "'Host' and 'X-Amz-Date' must be signed, and every signed header sent.")
    amz_date = lowered["x-amz-date"]
    try:  # the fields by hand: strptime cost a third of this check, which runs once per delivery
        if not _AMZ_DATE.fullmatch(amz_date):
            raise ValueError(amz_date)
        signed_at = datetime(int(amz_date[0:4]), int(amz_date[4:6]), int(amz_date[6:8]), int(amz_date[9:11]),
                             int(amz_date[11:13]), int(amz_date[13:15]), tzinfo=UTC)
    except ValueError:
        raise SignatureRefused("IncompleteSignatureException", f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.") from None
    current = now or datetime.now(UTC)
    if abs(current - signed_at) > MAX_SKEW or amz_date[:8] != found["day"]:
        raise SignatureRefused("InvalidSignatureException",
                               f"Signature expired: {amz_date} is not within 5 minutes of the server time "
                               f"{current.strftime('%Y%m%dT%H%M%SZ')}.")
    claimed = lowered.get("x-amz-content-sha256")
    if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
        raise SignatureRefused("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.")
    if not hmac.compare_digest(_expected(method, url, lowered, signed_names, body, credentials, found), found["signature"]):
        raise SignatureRefused("InvalidSignatureException", MISMATCH)
    return credentials


def _expected(method: str, url: str, headers: dict[str, str], signed_names: list[str], body: bytes,
              credentials: StackCredentials, found: re.Match) -> str:
    """The signature botocore's ``SigV4Auth`` computes for this request, without its per-request objects.

    Every @connections post is checked, so this runs once per delivery: botocore's own path (an AWSRequest,
    HTTPHeaders, a fresh signing key) costs about nine times Parley's signer (docs/benchmarks.md). The
    canonical request follows botocore's rules (its path normalization and double encoding, its unsigned
    header names); tests/local/test_sigv4_verify.py holds it to botocore's answer."""
    parts = urlsplit(url)
    path = quote(normalize_url_path(parts.path), safe="/~")
    query = "&".join(f"{key}={value}" for key, value in sorted(pair.partition("=")[::2] for pair in parts.query.split("&"))) if parts.query else ""
    names = sorted({name for name in signed_names if name not in _NEVER_SIGNED})
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names)
    payload = headers["x-amz-content-sha256"] if "x-amz-content-sha256" in names else hashlib.sha256(body).hexdigest()
    canonical = "\n".join([method.upper(), path, query, canonical_headers, ";".join(names), payload])
    day, region, service = headers["x-amz-date"][:8], found["region"], found["service"]
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers["x-amz-date"], f"{day}/{region}/{service}/aws4_request",
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _signing_key(credentials.secret_key, day, region, service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=64)
def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
