"""A broadcaster that splits big fan-outs across invocations of the fan-out function.

One invocation's posts are bound by the CPU each one costs on its one vCPU (docs/benchmarks.md, "Fan-out").
Above ``slice_size`` recipients the ids are cut into slices and each slice is posted by its own synchronous
invocation of FanoutFunction (its own vCPU), all at once from the broadcast pool; the reports are merged.

Never drop, never knowingly duplicate: a slice whose invoke was refused before the function ran (a
ClientError such as throttling, or no connection to Lambda) is posted locally instead; a slice whose
function ran and failed, or whose answer never came (read timeout), may have been partly delivered,
so its ids are reported failed (and logged), not posted again.

The frame is not encoded again here: its bytes go into each invoke's event as they are (``_invoke_event``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from parley.ports import Broadcaster, DeliveryReport
from parley.wire import Frame

log = logging.getLogger("parley.broadcast")

FANOUT_READ_TIMEOUT_S = 40  # above the fan-out function's 29 s Timeout, so its own answer comes first

_client = None
_client_lock = threading.Lock()


def lambda_client(*, pool_size: int):
    """One Lambda client per container (thread-safe); no retries: a retried invoke could post twice."""
    global _client
    with _client_lock:
        if _client is None:
            import boto3
            from botocore.config import Config

            _client = boto3.client(
                "lambda",
                config=Config(
                    max_pool_connections=pool_size,
                    connect_timeout=2,
                    read_timeout=FANOUT_READ_TIMEOUT_S,
                    retries={"max_attempts": 1, "mode": "standard"},
                ),
            )
        return _client


class SlicedBroadcaster:
    def __init__(
        self,
        local: Broadcaster,
        *,
        function_name: str,
        endpoint: str,
        pool: ThreadPoolExecutor,
        slice_size: int,
        client=None,
        pool_size: int = 64,
        metric: Callable[[str, float], None] = lambda name, value: None,
    ) -> None:
        if slice_size < 1:
            raise ValueError("slice_size must be at least 1")
        self._local = local
        self._function_name = function_name
        self._endpoint = endpoint
        self._pool = pool
        self._slice_size = slice_size
        self._client = client
        self._pool_size = pool_size
        self._metric = metric

    def send(self, *, connection_ids: Sequence[str], frame: Frame) -> DeliveryReport:
        ids = list(dict.fromkeys(connection_ids))
        if len(ids) <= self._slice_size:
            return self._local.send(connection_ids=ids, frame=frame)
        if self._client is None:
            self._client = lambda_client(pool_size=self._pool_size)
        slices = [ids[i : i + self._slice_size] for i in range(0, len(ids), self._slice_size)]
        outcomes = list(self._pool.map(lambda part: self._invoke(part, frame), slices))
        report = DeliveryReport()
        not_run: list[str] = []
        for part, outcome in zip(slices, outcomes):
            if outcome is None:
                not_run.extend(part)
            else:
                _merge(report, outcome)
        self._metric("FanoutSlices", len(slices))
        if not_run:
            self._metric("FanoutSlicesPostedHere", sum(1 for outcome in outcomes if outcome is None))
            # From this thread, after the invokes: a pool task waiting on the same pool could deadlock.
            _merge(report, self._local.send(connection_ids=not_run, frame=frame))
        return report

    def _invoke(self, part: list[str], frame: Frame) -> DeliveryReport | None:
        """The slice's report; None when the function did not run (post it locally)."""
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        try:
            response = self._client.invoke(
                FunctionName=self._function_name,
                InvocationType="RequestResponse",
                Payload=_invoke_event(self._endpoint, part, frame),
            )
            body = response["Payload"].read()
        except (ClientError, ConnectTimeoutError, EndpointConnectionError) as exc:
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else type(exc).__name__
            if code == "ServiceException":  # Lambda's internal error: the function may have run; never post twice
                log.error("fan-out invoke failed inside Lambda; the slice counts as failed",
                          extra={"error_code": code, "recipients": len(part)})
                return DeliveryReport(failed=list(part))
            log.warning("fan-out invoke refused; posting the slice here", extra={"error_code": code, "recipients": len(part)})
            return None
        except ReadTimeoutError:
            log.error("fan-out invoke timed out; the slice counts as failed", extra={"recipients": len(part)})
            return DeliveryReport(failed=list(part))
        except Exception:  # noqa: BLE001 - may have run: never post twice
            log.exception("fan-out invoke raised; the slice counts as failed", extra={"recipients": len(part)})
            return DeliveryReport(failed=list(part))
        if response.get("FunctionError"):
            log.error(
                "fan-out function failed; the slice counts as failed",
                extra={"function_error": response["FunctionError"], "recipients": len(part)},
            )
            return DeliveryReport(failed=list(part))
        try:
            return _report_from(json.loads(body), part)
        except ValueError as exc:
            log.error("fan-out function answered an unreadable report", extra={"reason": str(exc), "recipients": len(part)})
            return DeliveryReport(failed=list(part))


def _invoke_event(endpoint: str, part: list[str], frame: Frame) -> bytes:
    """FanoutFunction's event ``{"endpoint", "connectionIds", "payload"}`` as JSON, with the frame's bytes (a
    JSON object) spliced in as ``payload`` rather than decoded and encoded again."""
    head = json.dumps({"endpoint": endpoint, "connectionIds": part}, separators=(",", ":"))
    return head[:-1].encode() + b',"payload":' + frame.body + b"}"


def _report_from(result: object, part: list[str]) -> DeliveryReport:
    if not isinstance(result, dict):
        raise ValueError("not an object")
    delivered, gone, failed = result.get("delivered"), result.get("gone"), result.get("failed")
    if not isinstance(delivered, int) or not isinstance(gone, list) or not isinstance(failed, list):
        raise ValueError("delivered, gone or failed missing")
    members = set(part)
    if not all(isinstance(c, str) and c in members for c in (*gone, *failed)):
        raise ValueError("ids that were not in the slice")
    if delivered + len(gone) + len(failed) != len(part):
        raise ValueError("counts do not add up to the slice")
    return DeliveryReport(delivered=delivered, gone=list(gone), failed=list(failed))


def _merge(into: DeliveryReport, part: DeliveryReport) -> None:
    into.delivered += part.delivered
    into.gone.extend(part.gone)
    into.failed.extend(part.failed)
