"""CloudFormation custom resources: the one answer each request gets, whatever happens.

``run`` is the whole handler of a custom resource function (functions/deploy/log_role.py, functions/migrate/app.py):

- **Create / Update**: ``work(ResourceProperties, budget_s)`` returns ``(reason, data)``; the answer is SUCCESS
  with that ``Data``.
- **Delete**: nothing is done (``on_delete`` says why) and the answer is SUCCESS.
- **Any failure** (an exception in ``work``, an unknown request type, the function about to time out): FAILED with
  the reason, so CloudFormation rolls back at once instead of waiting an hour for an answer.

Exactly one answer is sent per invocation: the handler's, or the deadline timer's ``margin_s`` before Lambda would
end the invocation. An answer is one PUT of a JSON body to the request's pre-signed ``ResponseURL`` (what AWS's
``cfnresponse`` module sends): ``Status``, ``Reason``, ``PhysicalResourceId`` (the function's fixed one, so an
update never replaces the resource), ``StackId``, ``RequestId``, ``LogicalResourceId``, ``Data``. The URL is never
logged (it is a credential for the answer).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from typing import Any, Callable

log = logging.getLogger()

PUT_TIMEOUT_S = 10.0
PUT_ATTEMPTS = 3

Sender = Callable[..., None]
Work = Callable[[dict[str, Any], float], tuple[str, dict[str, str]]]


def send(event: dict[str, Any], status: str, reason: str, data: dict[str, str] | None = None, *,
         physical_id: str = "") -> None:
    """PUT the answer to the pre-signed ResponseURL (no Content-Type: the URL was signed without one)."""
    body = json.dumps({
        "Status": status,
        "Reason": reason[:1000],
        "PhysicalResourceId": event.get("PhysicalResourceId") or physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "Data": data or {},
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    for attempt in range(1, PUT_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=PUT_TIMEOUT_S) as response:  # noqa: S310 - CloudFormation's https URL
                log.info("answered %s to CloudFormation (HTTP %s)", status, response.status)
                return
        except Exception as exc:  # noqa: BLE001 - a failed answer is retried, then logged; nothing else can be done
            log.warning("answering CloudFormation failed (attempt %d): %s", attempt, type(exc).__name__)


class _Once:
    """Sends at most one answer, whether from the handler or from the deadline timer."""

    def __init__(self, event: dict[str, Any], sender: Sender, physical_id: str) -> None:
        self._event, self._sender, self._physical_id = event, sender, physical_id
        self._lock, self._sent = threading.Lock(), False

    def __call__(self, status: str, reason: str, data: dict[str, str] | None = None) -> bool:
        with self._lock:
            if self._sent:
                return False
            self._sent = True
        self._sender(self._event, status, reason, data, physical_id=self._physical_id)
        return True


def run(event: dict[str, Any], context: Any, *, work: Work, physical_id: str, margin_s: float, on_delete: str,
        timeout_reason: str, sender: Sender = send) -> None:
    """Handle one custom resource request and answer it exactly once (see the module docstring)."""
    answer = _Once(event, sender, physical_id)
    remaining_s = (context.get_remaining_time_in_millis() / 1000.0) if context is not None else 60.0
    budget_s = max(remaining_s - margin_s, 0.1)
    timer = threading.Timer(budget_s, answer, args=("FAILED", timeout_reason))
    timer.daemon = True
    timer.start()
    try:
        request_type = event["RequestType"]
        log.info("%s %s", request_type, event.get("LogicalResourceId"))
        if request_type == "Delete":
            answer("SUCCESS", on_delete)
            return
        if request_type not in ("Create", "Update"):
            raise ValueError(f"unknown RequestType {request_type!r}")
        reason, data = work(event.get("ResourceProperties") or {}, budget_s)
        answer("SUCCESS", reason, data)
    except Exception as exc:  # noqa: BLE001 - every failure must still answer CloudFormation
        log.exception("failed")
        answer("FAILED", f"{type(exc).__name__}: {exc}")
    finally:
        timer.cancel()
