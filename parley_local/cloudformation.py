"""CloudFormation, the language: a template's YAML with its short-form tags, and the ``Resolver`` of the
intrinsic functions the templates use, parameters, conditions, pseudo parameters and fake resource ids.

It knows no resource beyond what ``Ref`` and ``GetAtt`` return for it; template.py reads the resources the local
gateway serves. Any intrinsic outside ``Resolver.SUPPORTED`` is refused by name.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml


REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"

_API_TYPES = {
    "AWS::ApiGatewayV2::Api",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::Api",
    "AWS::ApiGateway::RestApi",
}
IMPLICIT_HTTP_API = "ServerlessHttpApi"


class TemplateError(Exception):
    """The template cannot be served locally; the message says where and why."""


# ---------------------------------------------------------------------------- YAML loading


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long form."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    """Load a template (YAML or JSON) with CloudFormation tags in their long form."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror}") from exc
    try:
        document = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources section")
    return document


# ---------------------------------------------------------------------------- fake identifiers

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def fake_id(seed: str, length: int = 10) -> str:
    """A stable, API-Gateway-looking id (lowercase alphanumerics) derived from a seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:length])


class _NoValue:
    """AWS::NoValue: the property is removed."""


NO_VALUE = _NoValue()


# ---------------------------------------------------------------------------- resolution


class Resolver:
    """Resolves intrinsic functions against parameters, pseudo parameters and fake resource ids."""

    def __init__(
        self,
        template: dict[str, Any],
        parameter_overrides: dict[str, str] | None = None,
        *,
        stack_name: str = "local-stack",
        region: str = REGION,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        self.template = template
        self.resources: dict[str, dict[str, Any]] = template.get("Resources") or {}
        self.parameters: dict[str, dict[str, Any]] = template.get("Parameters") or {}
        self.conditions: dict[str, Any] = template.get("Conditions") or {}
        self.overrides = {k: str(v) for k, v in (parameter_overrides or {}).items()}
        unknown = sorted(set(self.overrides) - set(self.parameters))
        if unknown:
            raise TemplateError(f"parameter override for undeclared parameter(s): {', '.join(unknown)}")
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self._condition_cache: dict[str, bool] = {}

    # -- pseudo parameters and Ref
    def pseudo(self, name: str) -> Any:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackId": (
                f"arn:{PARTITION}:cloudformation:{self.region}:{self.account_id}:stack/"
                f"{self.stack_name}/{fake_id(self.stack_name, 8)}"
            ),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]

    def parameter(self, name: str) -> str:
        if name in self.overrides:
            return self.overrides[name]
        declared = self.parameters[name] or {}
        if "Default" in declared:
            return str(declared["Default"])
        raise TemplateError(
            f"parameter {name} has no Default; give it a value with --parameter-overrides {name}=..."
        )

    def function_name(self, logical_id: str) -> str:
        props = self.resources[logical_id].get("Properties") or {}
        if "FunctionName" in props:
            return str(self.resolve(props["FunctionName"]))
        return f"{self.stack_name}-{logical_id}-{fake_id(logical_id, 12).upper()}"

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameter(name)
        if name == IMPLICIT_HTTP_API:
            return fake_id(name)
        if name not in self.resources:
            raise TemplateError(f"!Ref {name}: no such parameter or resource")
        rtype = self.resources[name].get("Type", "")
        props = self.resources[name].get("Properties") or {}
        if rtype in _API_TYPES or rtype == "AWS::Serverless::WebSocketApi":
            return fake_id(name)
        if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return self.function_name(name)
        if rtype in ("AWS::ApiGatewayV2::Stage", "AWS::ApiGateway::Stage"):
            return str(self.resolve(props.get("StageName", name)))
        if rtype == "AWS::SecretsManager::Secret":
            return f"arn:{PARTITION}:secretsmanager:{self.region}:{self.account_id}:secret:{name}-{fake_id(name, 6)}"
        if rtype in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            return f"arn:{PARTITION}:lambda:{self.region}:{self.account_id}:layer:{self.stack_name}-{name}:1"
        if rtype in ("AWS::IAM::Role",):
            return f"{self.stack_name}-{name}"
        if rtype.startswith("AWS::ApiGatewayV2::"):
            return fake_id(name, 7)
        return name

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.resources and logical_id != IMPLICIT_HTTP_API:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        rtype = (self.resources.get(logical_id) or {}).get("Type", "AWS::Serverless::HttpApi")
        if attribute == "Arn":
            if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                return (
                    f"arn:{PARTITION}:lambda:{self.region}:{self.account_id}:function:"
                    f"{self.function_name(logical_id)}"
                )
            return f"arn:{PARTITION}:local:{self.region}:{self.account_id}:{logical_id}"
        if attribute == "ApiEndpoint":
            props = (self.resources.get(logical_id) or {}).get("Properties") or {}
            scheme = "wss" if props.get("ProtocolType") == "WEBSOCKET" else "https"
            return f"{scheme}://{fake_id(logical_id)}.execute-api.{self.region}.{URL_SUFFIX}"
        if attribute in ("ApiId", "Id"):
            return fake_id(logical_id)
        if rtype == "AWS::CloudFront::Distribution" and attribute == "DomainName":
            return f"d{fake_id(logical_id, 13)}.cloudfront.net"  # rewrite_urls points https:// of it at the gateway
        return f"{logical_id}-{attribute}"

    # -- conditions
    def condition(self, name: str) -> bool:
        if name not in self._condition_cache:
            if name not in self.conditions:
                raise TemplateError(f"unknown condition {name}")
            self._condition_cache[name] = bool(self.resolve(self.conditions[name]))
        return self._condition_cache[name]

    # -- the walker
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    # The intrinsics template.yaml and tests/local/fixture_app/template.yaml use; any other is refused by name.
    SUPPORTED = ("Fn::Sub", "Fn::GetAtt", "Fn::Join", "Fn::Split", "Fn::If", "Fn::Equals", "Fn::Not", "Fn::Or")

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Sub":
            return self._sub(arg)
        if name == "GetAtt":
            if isinstance(arg, str):
                arg = arg.split(".", 1)
            logical_id, attribute = self.resolve(arg[0]), self.resolve(arg[1])
            return self.get_att(logical_id, attribute)
        if name == "Join":
            delimiter, items = arg
            return str(delimiter).join(str(v) for v in self._as_list(items))
        if name == "Split":
            delimiter, text = arg
            return str(self.resolve(text)).split(delimiter)
        if name == "If":
            condition, if_true, if_false = arg
            return self.resolve(if_true if self.condition(condition) else if_false)
        if name == "Equals":
            left, right = (self.resolve(v) for v in arg)
            return str(left) == str(right)
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "Or":
            return any(self.resolve(v) for v in arg)
        raise TemplateError(
            f"intrinsic function Fn::{name} is not supported by the local gateway "
            f"(it reads Ref, Condition and {', '.join(self.SUPPORTED)})"
        )

    def _as_list(self, items: Any) -> list[Any]:
        resolved = self.resolve(items)
        if not isinstance(resolved, list):
            raise TemplateError(f"expected a list, got {resolved!r}")
        return resolved

    _SUB_VAR = re.compile(r"\$\{([^}]*)\}")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                logical_id, attribute = expr.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(expr))

        return self._SUB_VAR.sub(replace, str(text))
