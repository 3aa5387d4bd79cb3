"""The ApiGatewayLogRoleCheck custom resource: give the account an API Gateway CloudWatch Logs role if it has none.

WebSocket access logging fails the stage ("CloudWatch Logs role ARN must be set in account settings") when the
account and region have no API Gateway CloudWatch Logs role. With ``ApiGatewayAccountLogRole=auto`` (the default)
CloudFormation calls this function before it creates the stage.

Contract, for each request type (``RoleArn`` is the role the stack made, ``ApiGatewayLogRole``):

- **Create / Update**: read the account setting (``apigateway GetAccount``). If ``cloudwatchRoleArn`` is set, leave
  it as it is (another stack or a person chose it; other APIs of the account log through it). If it is empty,
  set it to ``RoleArn`` (``UpdateAccount``, ``replace /cloudwatchRoleArn``). Answer SUCCESS with ``Data``
  ``{"RoleArn": <the role now in effect>, "Changed": "true"|"false"}``.
- **Delete**: change nothing (the setting is the account's, and the role is retained) and answer SUCCESS.
- **Any failure** (an API error, a bad request, a crash in this code, the function about to time out): answer
  FAILED with the reason, so CloudFormation rolls back at once instead of waiting an hour for an answer.

Every answer is one PUT of a JSON body to the request's pre-signed ``ResponseURL`` (what AWS's ``cfnresponse``
module sends): ``Status``, ``Reason``, ``PhysicalResourceId`` (always ``PHYSICAL_ID``: an update never replaces the
resource, so CloudFormation never sends a Delete for an old one), ``StackId``, ``RequestId``,
``LogicalResourceId``, ``Data``. Exactly one answer is sent per invocation. Nothing secret passes through here:
the event holds only ARNs.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from typing import Any, Callable

log = logging.getLogger()
log.setLevel(logging.INFO)

PHYSICAL_ID = "apigateway-account-cloudwatch-role"
# Answer FAILED this long before Lambda would kill the invocation (which would leave CloudFormation waiting).
DEADLINE_MARGIN_S = 3.0
PUT_TIMEOUT_S = 10.0
PUT_ATTEMPTS = 3


def _default_client() -> Any:
    """API Gateway's control plane, with short timeouts and few retries so a call fails well inside Timeout."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("apigateway", config=config)


def ensure_log_role(client: Any, role_arn: str) -> tuple[str, bool]:
    """Set the account's CloudWatch role to ``role_arn`` only if none is set; return (role in effect, changed)."""
    current = client.get_account().get("cloudwatchRoleArn") or ""
    if current:
        return current, False
    client.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}])
    return role_arn, True


def send(event: dict[str, Any], status: str, reason: str, data: dict[str, str] | None = None) -> None:
    """PUT the answer to the pre-signed ResponseURL (no Content-Type: the URL was signed without one)."""
    body = json.dumps({
        "Status": status,
        "Reason": reason[:1000],
        "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
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
            log.warning("answering CloudFormation failed (attempt %d): %s", attempt, exc)


class _Once:
    """Sends at most one answer, whether from the handler or from the deadline timer."""

    def __init__(self, event: dict[str, Any], sender: Callable[..., None]) -> None:
        self._event, self._sender, self._lock, self._sent = event, sender, threading.Lock(), False

    def __call__(self, status: str, reason: str, data: dict[str, str] | None = None) -> bool:
        with self._lock:
            if self._sent:
                return False
            self._sent = True
        self._sender(self._event, status, reason, data)
        return True


def handler(event: dict[str, Any], context: Any, client: Any = None) -> None:
    """CloudFormation custom resource entry point; always answers, SUCCESS or FAILED (see the module docstring)."""
    answer = _Once(event, send)
    remaining_s = (context.get_remaining_time_in_millis() / 1000.0) if context is not None else 60.0
    timer = threading.Timer(max(remaining_s - DEADLINE_MARGIN_S, 0.1), answer,
                            args=("FAILED", "timed out before API Gateway answered"))
    timer.daemon = True
    timer.start()
    try:
        request_type = event["RequestType"]
        log.info("%s %s", request_type, event.get("LogicalResourceId"))
        if request_type == "Delete":
            answer("SUCCESS", "the account setting and the retained role are left as they are")
            return
        if request_type not in ("Create", "Update"):
            raise ValueError(f"unknown RequestType {request_type!r}")
        role_arn = event["ResourceProperties"]["RoleArn"]
        in_effect, changed = ensure_log_role(client or _default_client(), role_arn)
        log.info("API Gateway CloudWatch role %s (changed: %s)", in_effect, changed)
        answer("SUCCESS", "set" if changed else "already set",
               {"RoleArn": in_effect, "Changed": "true" if changed else "false"})
    except Exception as exc:  # noqa: BLE001 - every failure must still answer CloudFormation
        log.exception("failed")
        answer("FAILED", f"{type(exc).__name__}: {exc}")
    finally:
        timer.cancel()
