"""The API Gateway Management API broadcaster: ``POST {stage}/@connections/{id}`` to every recipient.

It sends the request boto3's ``post_to_connection`` would, signed with SigV4 (``parley.adapters.sigv4``,
checked against botocore), over the keep-alive HTTP/1.1 connections of ``parley.adapters.http11``, with
``concurrency`` posts in flight. Why not boto3: its per-call CPU cost, serialized by the GIL, caps one
process's posts a second (docs/benchmarks.md, "Fan-out").

What it promises: the frame's bytes are posted as they are (the chat encoded them once, ``parley.wire``);
each connection is posted once; 410 ``GoneException`` is reported as gone (the chat forgets the
connection); 429 is retried with a bounded, jittered backoff;
anything else (another status, a timeout, a refused connection) is reported failed and logged with the
status and AWS error type, never the payload; one recipient's failure never stops the others. A
keep-alive connection the server closed while it sat idle gets the request once more on a fresh one (``http11``).
``close`` (``DELETE``) and ``probe`` (``GET``: does API Gateway still have the connection?) go the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote, urlsplit

from parley.adapters.http11 import Endpoint, loop_thread, request_bytes
from parley.adapters.sigv4 import Credentials, NoCredentials, Signer, current_credentials
from parley.ports import DeliveryReport
from parley.wire import Frame

log = logging.getLogger("parley.broadcast")

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


class Outcome(Enum):
    """What became of one recipient's request."""

    DELIVERED = "delivered"  # a 2xx answer
    GONE = "gone"  # 410: API Gateway no longer has the connection
    FAILED = "failed"  # anything else, after the retries 429 gets


@dataclass(frozen=True, slots=True)
class _Patience:
    """How hard one request tries: attempts (429s are retried) and how long it waits to connect and for an answer."""

    attempts: int
    connect_timeout: float
    read_timeout: float


# ``probe`` is a question asked in $connect (6 s Timeout): once, quickly; an answer that does not come counts as
# "still there".
_PROBE = _Patience(attempts=1, connect_timeout=1.0, read_timeout=2.0)


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
        self._scheme, self._hostname, self._port = url.scheme, url.hostname, url.port or default_port
        self._host = url.hostname if self._port == default_port else f"{url.hostname}:{url.port}"
        self._base = url.path
        self._signer = Signer(region_of(url.hostname))
        self._concurrency = max(1, concurrency)
        self._patience = _Patience(max_attempts, connect_timeout, read_timeout)
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._ssl_context = ssl_context
        self._credentials = credentials

    def send(self, *, connection_ids: Sequence[str], frame: Frame) -> DeliveryReport:
        return self._to_each(connection_ids, "POST", frame.body, refusal="cannot post: no AWS credentials")

    def close(self, *, connection_ids: Sequence[str]) -> DeliveryReport:
        """``DELETE @connections/{id}`` for each: API Gateway closes those sockets (gone ones count as gone)."""
        return self._to_each(connection_ids, "DELETE", b"", refusal="cannot close connections: no AWS credentials")

    def probe(self, *, connection_ids: Sequence[str]) -> DeliveryReport:
        """``GET @connections/{id}`` for each, once, with short timeouts (``_PROBE``): delivered = API Gateway
        still has it, gone = 410."""
        return self._to_each(connection_ids, "GET", b"", refusal="cannot ask about connections: no AWS credentials",
                             patience=_PROBE)

    def _to_each(self, connection_ids: Sequence[str], method: str, body: bytes, *, refusal: str,
                 patience: _Patience | None = None) -> DeliveryReport:
        ids = list(dict.fromkeys(connection_ids))  # each connection once
        report = DeliveryReport()
        if not ids:
            return report
        try:
            credentials = self._credentials()
        except NoCredentials:
            log.error(refusal, extra={"recipients": len(ids)})
            report.failed.extend(ids)
            return report
        outcomes = loop_thread.run(self._request_all(ids, method, body, credentials, patience or self._patience))
        for cid, outcome in zip(ids, outcomes):
            if outcome is Outcome.DELIVERED:
                report.delivered += 1
            elif outcome is Outcome.GONE:
                report.gone.append(cid)
            else:
                report.failed.append(cid)
        return report

    async def _request_all(
        self, ids: list[str], method: str, body: bytes, credentials: Credentials, patience: _Patience
    ) -> list[Outcome]:
        endpoint = loop_thread.endpoint(
            self._scheme, self._hostname, self._port, limit=self._concurrency, ssl_context=self._ssl_context
        )
        outcomes = [Outcome.FAILED] * len(ids)
        pending = iter(range(len(ids)))

        async def worker() -> None:
            for i in pending:
                outcomes[i] = await self._request(endpoint, ids[i], method, body, credentials, patience)

        await asyncio.gather(*(worker() for _ in range(min(self._concurrency, len(ids)))))
        return outcomes

    async def _request(
        self, endpoint: Endpoint, connection_id: str, method: str, body: bytes, credentials: Credentials,
        patience: _Patience,
    ) -> Outcome:
        path = f"{self._base}/@connections/{quote(connection_id, safe='')}"
        for attempt in range(1, patience.attempts + 1):
            headers = self._signer.headers(host=self._host, path=path, body=body, credentials=credentials, method=method)
            request = request_bytes(method=method, path=path, headers=headers, body=body)
            try:
                answer = await endpoint.exchange(
                    request, connect_timeout=patience.connect_timeout, read_timeout=patience.read_timeout
                )
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                log.warning(
                    "@connections request failed",
                    extra={"connection_id": connection_id, "method": method, "error_code": type(exc).__name__,
                           "attempt": attempt},
                )
                return Outcome.FAILED
            except Exception:  # noqa: BLE001 - one recipient must never stop the others
                log.exception("@connections request raised", extra={"connection_id": connection_id, "method": method})
                return Outcome.FAILED
            if 200 <= answer.status < 300:
                return Outcome.DELIVERED
            if answer.status == 410:
                return Outcome.GONE
            if answer.status == 429 and attempt < patience.attempts:
                await asyncio.sleep(self._backoff(attempt))
                continue
            log.warning(
                "@connections request failed",
                extra={"connection_id": connection_id, "method": method, "error_code": _error_type(answer.headers),
                       "status": answer.status, "attempt": attempt},
            )
            return Outcome.FAILED
        return Outcome.FAILED

    def _backoff(self, attempt: int) -> float:
        cap = min(self._max_delay, self._base_delay * (2 ** (attempt - 1)))
        return random.uniform(cap / 2, cap)


def _error_type(headers: dict[str, str]) -> str:
    """AWS's error type (``GoneException``, say) without the URL that may follow it."""
    return headers.get("x-amzn-errortype", "").split(":")[0]
