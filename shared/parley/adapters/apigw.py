"""The API Gateway Management API broadcaster: ``POST {stage}/@connections/{id}`` to every recipient.

Why not boto3's ``post_to_connection``: measured (docs/benchmarks.md), one call costs ~2 ms of CPU in
botocore's per-call machinery and the GIL serializes it, so one process posts at most ~410 a second
however many threads wait on the network. This adapter sends the same request, signed with SigV4
(``parley.adapters.sigv4``, checked against botocore), over keep-alive HTTP/1.1 connections from one
asyncio loop per process: ~150 µs of CPU a post, ``concurrency`` posts in flight.

What it promises: the payload is serialized once; each connection is posted once; 410 ``GoneException``
is reported as gone (the chat forgets the connection); 429 is retried with a bounded, jittered backoff;
anything else (another status, a timeout, a refused connection) is reported failed and logged with the
status and AWS error type, never the payload; one recipient's failure never stops the others. A
keep-alive connection the server closed while it sat idle is detected before a byte of answer arrives
and the request is sent once more on a fresh connection (what botocore and urllib3 do too).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import ssl
from collections.abc import Callable, Sequence
from urllib.parse import quote, urlsplit

from parley.adapters.http11 import _Endpoint, _loop_thread
from parley.adapters.sigv4 import Credentials, NoCredentials, Signer, current_credentials
from parley.ports import DeliveryReport
from parley.wire import encode

log = logging.getLogger("parley.broadcast")

_OK, _GONE, _FAILED = "ok", "gone", "failed"
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


def endpoint_from_event(request_context: dict, override: str | None = None) -> str:
    """The Management API base URL: the override (local runs, custom domains) or the event's own API."""
    if override:
        return override.rstrip("/")
    domain = request_context.get("domainName")
    stage = request_context.get("stage")
    if domain and stage:
        return f"https://{domain}/{stage}"
    api_id = request_context.get("apiId")
    return f"https://{api_id}.execute-api.{_function_region()}.amazonaws.com/{stage}"


def _function_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def region_of(host: str) -> str:
    """The region to sign for: the one in an execute-api host name, else the function's own."""
    found = _REGION_IN_HOST.search(host)
    if found:
        return found.group(1)
    return _function_region()


class ManagementApiBroadcaster:
    def __init__(
        self,
        *,
        endpoint: str,
        concurrency: int = 64,
        max_attempts: int = 4,
        base_delay: float = 0.05,
        max_delay: float = 1.0,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        credentials: Callable[[], Credentials] = current_credentials,
    ) -> None:
        url = urlsplit(endpoint.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"the Management API endpoint must be an http(s) URL, got {endpoint!r}")
        default_port = 443 if url.scheme == "https" else 80
        self._key = (url.scheme, url.hostname, url.port or default_port)
        self._host = url.hostname if (url.port or default_port) == default_port else f"{url.hostname}:{url.port}"
        self._base = url.path
        self._signer = Signer(region_of(url.hostname))
        self._concurrency = max(1, concurrency)
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._ssl_context = ssl_context
        self._credentials = credentials

    def send(self, *, connection_ids: Sequence[str], payload: dict) -> DeliveryReport:
        report = DeliveryReport()
        ids = list(dict.fromkeys(connection_ids))  # each connection once
        if not ids:
            return report
        data = encode(payload)
        try:
            credentials = self._credentials()
        except NoCredentials:
            log.error("cannot post: no AWS credentials", extra={"recipients": len(ids)})
            report.failed.extend(ids)
            return report
        outcomes = _loop_thread.run(self._post_all(ids, data, credentials))
        for cid, outcome in zip(ids, outcomes):
            if outcome == _OK:
                report.delivered += 1
            elif outcome == _GONE:
                report.gone.append(cid)
            else:
                report.failed.append(cid)
        return report

    def close(self, *, connection_ids: Sequence[str]) -> DeliveryReport:
        """``DELETE @connections/{id}`` for each: API Gateway closes those sockets (gone ones count as gone)."""
        report = DeliveryReport()
        ids = list(dict.fromkeys(connection_ids))
        if not ids:
            return report
        try:
            credentials = self._credentials()
        except NoCredentials:
            log.error("cannot close connections: no AWS credentials", extra={"recipients": len(ids)})
            report.failed.extend(ids)
            return report
        outcomes = _loop_thread.run(self._post_all(ids, b"", credentials, method="DELETE"))
        for cid, outcome in zip(ids, outcomes):
            if outcome == _OK:
                report.delivered += 1
            else:
                (report.gone if outcome == _GONE else report.failed).append(cid)
        return report

    async def _post_all(self, ids: list[str], data: bytes, credentials: Credentials, method: str = "POST") -> list[str]:
        endpoint = _loop_thread.endpoints.get(self._key)
        if endpoint is None:
            endpoint = _loop_thread.endpoints[self._key] = _Endpoint(
                self._key[0], self._key[1], self._key[2], self._concurrency, self._ssl_context
            )
        outcomes = [_FAILED] * len(ids)
        pending = iter(range(len(ids)))

        async def worker() -> None:
            for i in pending:
                outcomes[i] = await self._post(endpoint, ids[i], data, credentials, method)

        await asyncio.gather(*(worker() for _ in range(min(self._concurrency, len(ids)))))
        return outcomes

    async def _post(
        self, endpoint: _Endpoint, connection_id: str, data: bytes, credentials: Credentials, method: str = "POST"
    ) -> str:
        path = f"{self._base}/@connections/{quote(connection_id, safe='')}"
        for attempt in range(1, self._max_attempts + 1):
            headers = self._signer.headers(host=self._host, path=path, body=data, credentials=credentials, method=method)
            request = (
                f"{method} {path} HTTP/1.1\r\n"
                + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
                + f"content-length: {len(data)}\r\nuser-agent: parley\r\n\r\n"
            ).encode() + data
            try:
                answer = await endpoint.exchange(
                    request, connect_timeout=self._connect_timeout, read_timeout=self._read_timeout
                )
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                log.warning(
                    "post_to_connection failed",
                    extra={"connection_id": connection_id, "error_code": type(exc).__name__, "attempt": attempt},
                )
                return _FAILED
            except Exception:  # noqa: BLE001 - one recipient must never stop the others
                log.exception("post_to_connection raised", extra={"connection_id": connection_id})
                return _FAILED
            if 200 <= answer.status < 300:
                return _OK
            if answer.status == 410:
                return _GONE
            if answer.status == 429 and attempt < self._max_attempts:
                await asyncio.sleep(self._backoff(attempt))
                continue
            log.warning(
                "post_to_connection failed",
                extra={"connection_id": connection_id, "error_code": answer.error_type, "status": answer.status,
                       "attempt": attempt},
            )
            return _FAILED
        return _FAILED

    def _backoff(self, attempt: int) -> float:
        cap = min(self._max_delay, self._base_delay * (2 ** (attempt - 1)))
        return random.uniform(cap / 2, cap)
