"""The gateway's SigV4 check computes botocore's signature: requests signed by botocore verify, and each changed part fails."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from parley_local.sigv4 import SignatureRefused, StackCredentials, verify

KNOWN = {"AKIDLOCAL": StackCredentials("AKIDLOCAL", "secret/with+odd=chars", "token==")}

REQUESTS = [
    ("POST", "http://127.0.0.1:3201/prod/@connections/L0SM9cOFvHcCIhw%3D", b'{"type":"message","text":"h\xc3\xa9llo"}', {}),
    ("GET", "http://127.0.0.1:3201/prod/@connections/a%2Bb%2Fc%3D%3D", b"", {}),
    ("DELETE", "http://localhost:9/@connections/Zm9v_-~.", b"", {"X-Custom": "  spaced   value "}),
    ("POST", "http://127.0.0.1:1/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations"
             "?Qualifier=%24LATEST&b=2&a=1", b"{}", {"X-Amz-Invocation-Type": "RequestResponse"}),
    ("POST", "http://h:1/p/./q/../r", b"x", {"User-Agent": "not signed by botocore", "X-Amz-Content-SHA256": None}),
]


def _signed(method: str, url: str, body: bytes, extra: dict, service: str = "execute-api") -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body, headers={k: v for k, v in extra.items() if v is not None})
    if "X-Amz-Content-SHA256" in extra:
        import hashlib

        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    SigV4Auth(Credentials("AKIDLOCAL", "secret/with+odd=chars", "token=="), service, "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = url.split("/")[2]
    return headers


def _a_second_later(amz_date: str) -> str:
    return (datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ") + timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize(("method", "url", "body", "extra"), REQUESTS)
def test_what_botocore_signs_verifies(method, url, body, extra):
    headers = _signed(method, url, body, extra)
    assert verify(method=method, url=url, headers=headers, body=body, service="execute-api", region="us-east-1",
                  known=KNOWN) == KNOWN["AKIDLOCAL"]


@pytest.mark.parametrize(("method", "url", "body", "extra"), REQUESTS)
def test_a_changed_method_path_query_body_or_header_does_not(method, url, body, extra):
    headers = _signed(method, url, body, extra)
    changed = [
        ("PUT", url, body, headers),
        (method, url[:url.index("/", 8)] + "/x" + url[url.index("/", 8):], body, headers),
        (method, url + ("&c=3" if "?" in url else "?c=3"), body, headers),
        (method, url, body + b" ", headers),
        (method, url, body, {**headers, "X-Amz-Date": _a_second_later(headers["X-Amz-Date"])}),
    ]
    for m, u, b, h in changed:
        with pytest.raises(SignatureRefused, match="InvalidSignatureException"):
            verify(method=m, url=u, headers=h, body=b, service="execute-api", region="us-east-1", known=KNOWN)


@pytest.mark.parametrize("amz_date", ["2026-12-01T12:00:00Z", "20261301T120000Z", "20261201T120000", ""])
def test_a_date_not_in_basic_format_is_an_incomplete_signature(amz_date):
    method, url, body, extra = REQUESTS[0]
    headers = {**_signed(method, url, body, extra), "X-Amz-Date": amz_date}
    with pytest.raises(SignatureRefused, match="IncompleteSignatureException"):
        verify(method=method, url=url, headers=headers, body=body, service="execute-api", region="us-east-1", known=KNOWN)
