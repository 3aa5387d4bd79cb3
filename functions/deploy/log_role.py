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

The answer (exactly one, ``PhysicalResourceId`` always ``PHYSICAL_ID``) is ``parley.custom_resource.run``'s.
Nothing secret passes through here: the event holds only ARNs.
"""

from __future__ import annotations

import logging
from typing import Any

from parley import custom_resource
from parley.custom_resource import send

log = logging.getLogger()
log.setLevel(logging.INFO)

PHYSICAL_ID = "apigateway-account-cloudwatch-role"
# Answer FAILED this long before Lambda would kill the invocation (which would leave CloudFormation waiting).
DEADLINE_MARGIN_S = 3.0


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


def handler(event: dict[str, Any], context: Any, client: Any = None) -> None:
    """CloudFormation custom resource entry point; always answers, SUCCESS or FAILED (see the module docstring)."""

    def work(properties: dict[str, Any], budget_s: float) -> tuple[str, dict[str, str]]:
        in_effect, changed = ensure_log_role(client or _default_client(), properties["RoleArn"])
        log.info("API Gateway CloudWatch role %s (changed: %s)", in_effect, changed)
        return ("set" if changed else "already set"), {"RoleArn": in_effect, "Changed": "true" if changed else "false"}

    custom_resource.run(event, context, work=work, physical_id=PHYSICAL_ID, margin_s=DEADLINE_MARGIN_S,
                        on_delete="the account setting and the retained role are left as they are",
                        timeout_reason="timed out before API Gateway answered", sender=send)
