"""The API Gateway Management API broadcaster (boto3 ``apigatewaymanagementapi``).

Posts concurrently from a bounded pool (botocore's connection pool sized to match), serializes the
payload once, reports connections that answer 410 ``GoneException`` so the chat can forget them,
retries 429 ``LimitExceededException`` with a bounded, jittered backoff, and never lets one recipient's
failure stop the others.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import os

from parley.ports import DeliveryReport

# boto3 is imported on first use, so a function that never posts ($connect) does not pay for it at cold start.

log = logging.getLogger("parley.broadcast")

_OK, _GONE, _FAILED = "ok", "gone", "failed"
_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def endpoint_from_event(request_context: dict, override: str | None = None) -> str:
    """The Management API base URL: the override (local runs, custom domains) or the event's own API."""
    if override:
        return override.rstrip("/")
    domain = request_context.get("domainName")
    stage = request_context.get("stage")
    if domain and stage:
        return f"https://{domain}/{stage}"
    api_id = request_context.get("apiId")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"


def management_client(endpoint: str, *, pool_size: int):
    """One client per endpoint per container; botocore clients are thread-safe."""
    with _clients_lock:
        client = _clients.get(endpoint)
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "apigatewaymanagementapi",
                endpoint_url=endpoint,
                config=Config(
                    max_pool_connections=pool_size,
                    connect_timeout=2,
                    read_timeout=5,
                    retries={"max_attempts": 1, "mode": "standard"},  # our own loop retries 429s
                ),
            )
            _clients[endpoint] = client
        return client


def _encode(payload: dict) -> bytes:
    """Compact UTF-8 JSON; \\u-escaped where a string holds a lone surrogate (never an exception)."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(payload, separators=(",", ":")).encode("ascii")


class ManagementApiBroadcaster:
    def __init__(
        self,
        client=None,
        *,
        pool: ThreadPoolExecutor,
        endpoint: str | None = None,
        pool_size: int = 64,
        max_attempts: int = 4,
        base_delay: float = 0.05,
        max_delay: float = 1.0,
    ) -> None:
        if client is None and endpoint is None:
            raise ValueError("give the broadcaster a client or the endpoint to make one for")
        self._client = client
        self._endpoint = endpoint
        self._pool_size = pool_size
        self._pool = pool
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay

    def send(self, *, connection_ids: Sequence[str], payload: dict) -> DeliveryReport:
        report = DeliveryReport()
        if not connection_ids:
            return report
        if self._client is None:  # the first post of this invocation; the client itself is cached per container
            self._client = management_client(self._endpoint, pool_size=self._pool_size)
        data = _encode(payload)
        ids = list(dict.fromkeys(connection_ids))  # each connection once
        if len(ids) == 1:
            outcomes = [self._post(ids[0], data)]
        else:
            outcomes = list(self._pool.map(lambda cid: self._post(cid, data), ids))
        for cid, outcome in zip(ids, outcomes):
            if outcome == _OK:
                report.delivered += 1
            elif outcome == _GONE:
                report.gone.append(cid)
            else:
                report.failed.append(cid)
        return report

    def _post(self, connection_id: str, data: bytes) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        gone = self._client.exceptions.GoneException
        for attempt in range(1, self._max_attempts + 1):
            try:
                self._client.post_to_connection(ConnectionId=connection_id, Data=data)
                return _OK
            except gone:  # before ClientError: it subclasses it
                return _GONE
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code in ("LimitExceededException", "ThrottlingException", "TooManyRequestsException") or status == 429:
                    if attempt < self._max_attempts:
                        time.sleep(self._backoff(attempt))
                        continue
                log.warning(
                    "post_to_connection failed",
                    extra={"connection_id": connection_id, "error_code": code, "status": status, "attempt": attempt},
                )
                return _FAILED
            except BotoCoreError as exc:  # timeouts, connection errors
                log.warning(
                    "post_to_connection failed",
                    extra={"connection_id": connection_id, "error_code": type(exc).__name__, "attempt": attempt},
                )
                return _FAILED
            except Exception:  # noqa: BLE001 - one recipient must never stop the others
                log.exception("post_to_connection raised", extra={"connection_id": connection_id})
                return _FAILED
        return _FAILED

    def _backoff(self, attempt: int) -> float:
        cap = min(self._max_delay, self._base_delay * (2 ** (attempt - 1)))
        return random.uniform(cap / 2, cap)
