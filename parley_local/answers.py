"""The answers every emulated API shares: JSON bodies, AWS-style errors, and the SigV4 check of AWS endpoints."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from .sigv4 import SignatureRefused, StackCredentials, verify
from .cloudformation import REGION

log = logging.getLogger("parley_local")


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json", headers=headers)


def aws_error(status: int, error_type: str, message: str | None) -> web.Response:
    """An AWS service error: ``{"message": ...}`` with the error type in ``x-amzn-ErrorType``."""
    return json_response(status, {"message": message}, {"x-amzn-ErrorType": error_type})


def signature_refusal(
    request: web.Request, body: bytes, *, service: str, missing_type: str, known: dict[str, StackCredentials]
) -> web.Response | None:
    """None when the request is signed (SigV4) with one of the stack's credentials; else AWS's 403 answer."""
    try:
        verify(method=request.method, url=f"http://{request.host}{request.raw_path}", headers=request.headers,
               body=body, service=service, region=REGION, known=known, missing_type=missing_type)
    except SignatureRefused as exc:
        log.warning("refused a %s request to %s: %s", service, request.path, exc.error_type)
        return aws_error(exc.status, exc.error_type, exc.message)
    return None
