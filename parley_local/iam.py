"""IAM policy evaluation, as API Gateway applies a REQUEST authorizer's answer to the method it guards."""

from __future__ import annotations

import fnmatch
from enum import Enum
from typing import Any


class Decision(Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    INVALID = "invalid"  # not an IAM policy answer at all: API Gateway answers 500


def policy_decision(result: Any, method_arn: str) -> Decision:
    """What an authorizer's IAM policy answer says about ``execute-api:Invoke`` on method_arn.

    An explicit Deny wins over any Allow; no matching statement is a Deny.
    """
    if not isinstance(result, dict) or not isinstance(result.get("policyDocument"), dict):
        return Decision.INVALID
    statements = result["policyDocument"].get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return Decision.INVALID
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            return Decision.INVALID
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", str(a)) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(method_arn, str(r)) for r in resources):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return Decision.DENY
        if effect == "Allow":
            allowed = True
    return Decision.ALLOW if allowed else Decision.DENY
