"""The deploy rehearsal: transform a SAM template with AWS's own SAM translator, then refuse what CloudFormation
or AWS would refuse or break, before anything is deployed or served.

``rehearse(path)`` returns the findings (empty when the stack would be accepted) over a few parameter sets; each
``Finding`` names its check, the resources involved and why. The checks, on the transformed template:

- ``cycle``: no circular dependency between resources (Ref, GetAtt, ``${...}`` in Fn::Sub and DependsOn, in
  every branch of every Fn::If, as CloudFormation refuses a template whose graph has a cycle);
- ``reference``: every Ref, GetAtt, Condition and Fn::If names a resource, parameter, pseudo parameter or
  condition that exists;
- ``attribute``: every GetAtt names an attribute its resource type has (the CloudFormation resource schemas
  that cfn-lint ships);
- ``permission``: every API Gateway route and authorizer that invokes a Lambda function has an
  ``AWS::Lambda::Permission`` for apigateway.amazonaws.com whose SourceArn covers that route's ARN;
- ``role``: every function's role allows what its code calls: ``secretsmanager:GetSecretValue`` on each
  ``*_SECRET_ARN`` of its environment, ``lambda:InvokeFunction`` on its ``FANOUT_FUNCTION``, and
  ``execute-api:ManageConnections`` on ``MANAGEMENT_API_ENDPOINT`` for each method in ``CODE_CALLS``.

The role check reads only Allow statements of the roles' inline policies (what this stack writes), and ignores
their Condition keys: a grant made by a managed policy alone, or one a condition narrows, is not seen.

``python -m parley_local.rehearsal [--template template.yaml]`` prints the findings and exits 1 when there are any.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cloudformation import ACCOUNT_ID, PARTITION, REGION, Resolver, TemplateError, load_template

# What each function's code calls on the @connections Management API, by its code (CodeUri + Handler): posting
# frames, closing the sockets of ended sessions (DELETE), asking at the connection cap whether a counted
# connection is gone (GET). A function whose MANAGEMENT_API_ENDPOINT is set and whose code is not listed here is
# taken to POST.
CODE_CALLS: dict[str, frozenset[str]] = {
    "functions/message/app.handler": frozenset({"POST", "DELETE"}),
    "functions/message/fanout.handler": frozenset({"POST"}),
    "functions/disconnect/app.handler": frozenset({"POST"}),
    "functions/connect/app.handler": frozenset({"GET", "POST"}),
    "functions/auth/app.handler": frozenset({"DELETE"}),
}

# Besides the defaults, the stack is rehearsed with every optional feature on: values for the parameters that have
# no AllowedValues to flip (a parameter the template does not declare is left out).
FEATURES_ON = {
    "MongoDbUri": "",
    "MongoDbSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:parley-mongodb-AbCdEf",
    "AllowedOrigins": "https://chat.example.com",
    "AlarmEmail": "ops@example.com",
    "AlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:parley-alarms",
    "AuthorizerReservedConcurrency": "10",
    "ConnectReservedConcurrency": "10",
    "FanoutMaxConcurrency": "50",
    "MessageRetentionDays": "30",
    "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    "SubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    "SecurityGroupIds": "sg-0123456789abcdef0",
    "VpcId": "vpc-0123456789abcdef0",
}
DEFAULTS_NEED = {"MongoDbUri": "mongodb+srv://user:pass@cluster.example.net"}  # a Rule requires one of the two

PSEUDO = {"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region",
          "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class Finding:
    """One thing CloudFormation or AWS would refuse or break: which check, which resources, and why."""

    check: str
    resources: tuple[str, ...]
    message: str
    parameters: str = "defaults"

    def __str__(self) -> str:
        return f"[{self.check}] {', '.join(self.resources)}: {self.message} (parameters: {self.parameters})"


class RehearsalError(Exception):
    """The template could not be transformed at all (the SAM translator refused it); the message says why."""


# ---------------------------------------------------------------------------- the transform


def transform(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The CloudFormation template that ``Transform: AWS::Serverless-2016-10-31`` makes of ``template``.

    Local CodeUri/ContentUri paths become S3 URIs first, as ``sam package`` would make them.
    """
    import boto3
    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    document = _packaged(template)
    if "Transform" not in document:
        return document
    translator = Translator(managed_policy_map=None, sam_parser=Parser(),
                            boto_session=boto3.Session(region_name=REGION))
    try:
        return translator.translate(document, parameter_values=dict(parameters),
                                    get_managed_policy_map=lambda: get_bundled_managed_policy_map(PARTITION))
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause) for cause in exc.causes) or str(exc)
        raise RehearsalError(f"the SAM translator refuses the template: {causes}") from exc


def _packaged(template: dict[str, Any]) -> dict[str, Any]:
    document = {**template, "Resources": {}}
    for name, resource in (template.get("Resources") or {}).items():
        props = dict(resource.get("Properties") or {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://rehearsal-artifacts/{props[key].strip('/')}"
        document["Resources"][name] = {**resource, "Properties": props} if "Properties" in resource else resource
    return document


def parameter_sets(template: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The parameter sets the stack is rehearsed with: the defaults, and every optional feature on."""
    declared = template.get("Parameters") or {}
    defaults = {k: v for k, v in DEFAULTS_NEED.items() if k in declared}
    features = {k: v for k, v in FEATURES_ON.items() if k in declared}
    for name, spec in declared.items():
        allowed = [str(v) for v in (spec or {}).get("AllowedValues") or []]
        others = [v for v in allowed if v != str((spec or {}).get("Default"))]
        if others and name not in features:
            features[name] = others[0] if len(others) == 1 else others[-1]
    return {"defaults": defaults, "features on": features}


# ---------------------------------------------------------------------------- walking references


@dataclass(frozen=True)
class Reference:
    kind: str  # Ref, GetAtt, Condition, DependsOn
    target: str
    attribute: str
    where: str


def references(value: Any, where: str, local: frozenset[str] = frozenset()) -> Iterator[Reference]:
    """Every Ref, GetAtt, ``${...}``, Condition and Fn::If condition in ``value`` (all branches)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from references(item, f"{where}[{i}]", local)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" and isinstance(arg, str):
            if arg not in local:
                yield Reference("Ref", arg, "", where)
            return
        if key == "Condition" and isinstance(arg, str):
            yield Reference("Condition", arg, "", where)
            return
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
            if parts and isinstance(parts[0], str):
                attribute = parts[1] if len(parts) > 1 and isinstance(parts[1], str) else ""
                yield Reference("GetAtt", parts[0], attribute, where)
            return
        if key == "Fn::Sub":
            text, variables = (arg[0], arg[1] or {}) if isinstance(arg, list) else (arg, {})
            yield from references(variables, where, local)
            for expr in _SUB_VAR.findall(str(text)):
                if expr in variables:
                    continue
                if "." in expr and not expr.startswith("AWS::"):
                    target, attribute = expr.split(".", 1)
                    yield Reference("GetAtt", target, attribute, where)
                else:
                    yield Reference("Ref", expr, "", where)
            return
        if key == "Fn::If" and isinstance(arg, list) and arg and isinstance(arg[0], str):
            yield Reference("Condition", arg[0], "", where)
            yield from references(arg[1:], where, local)
            return
    for key, item in value.items():
        yield from references(item, f"{where}.{key}", local)


def resource_references(name: str, resource: dict[str, Any]) -> Iterator[Reference]:
    """What one resource refers to: its properties, metadata, condition, DependsOn and policies."""
    for key, value in resource.items():
        if key == "Type":
            continue
        if key == "DependsOn":
            for target in [value] if isinstance(value, str) else value:
                yield Reference("DependsOn", target, "", f"{name}.DependsOn")
        elif key == "Condition" and isinstance(value, str):
            yield Reference("Condition", value, "", f"{name}.Condition")
        else:
            yield from references(value, f"{name}.{key}")


# ---------------------------------------------------------------------------- the checks


def check_references(template: dict[str, Any], label: str = "defaults") -> list[Finding]:
    """Dangling Ref, GetAtt and condition names, and GetAtt attributes the resource type does not have."""
    resources = template.get("Resources") or {}
    parameters = template.get("Parameters") or {}
    conditions = template.get("Conditions") or {}
    found: list[Finding] = []
    walks: list[tuple[str, Iterator[Reference]]] = [(n, resource_references(n, r)) for n, r in resources.items()]
    walks += [(f"Outputs.{n}", resource_references(f"Outputs.{n}", o)) for n, o in (template.get("Outputs") or {}).items()]
    walks += [(f"Conditions.{n}", references(c, f"Conditions.{n}")) for n, c in conditions.items()]
    for owner, walk in walks:
        for ref in walk:
            if ref.kind == "Ref" and ref.target not in resources and ref.target not in parameters and ref.target not in PSEUDO:
                found.append(Finding("reference", (owner,), f"{ref.where} refers to {ref.target}, which is no resource, parameter or pseudo parameter", label))
            elif ref.kind in ("GetAtt", "DependsOn") and ref.target not in resources:
                found.append(Finding("reference", (owner,), f"{ref.where} names resource {ref.target}, which does not exist", label))
            elif ref.kind == "Condition" and ref.target not in conditions:
                found.append(Finding("reference", (owner,), f"{ref.where} names condition {ref.target}, which does not exist", label))
            elif ref.kind == "GetAtt" and ref.attribute:
                rtype = resources[ref.target].get("Type", "")
                attributes = _attributes(rtype)
                if attributes is not None and ref.attribute not in attributes:
                    found.append(Finding("attribute", (owner, ref.target),
                                         f"{ref.where} asks for {ref.target}.{ref.attribute}, but {rtype} has only "
                                         f"{', '.join(sorted(attributes)) or 'no attributes'}", label))
    return found


def _attributes(rtype: str) -> set[str] | None:
    """The GetAtt attributes of a resource type (None: any, as for custom resources)."""
    if rtype == "AWS::CloudFormation::CustomResource" or rtype.startswith("Custom::"):
        return None
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER
    from cfnlint.schema.manager import ResourceNotFoundError

    try:
        return set(PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, rtype).get_atts)
    except ResourceNotFoundError:
        return set()


def check_cycles(template: dict[str, Any], label: str = "defaults") -> list[Finding]:
    """Circular dependencies between resources, each named with the properties that make its edges."""
    resources = template.get("Resources") or {}
    edges: dict[str, dict[str, str]] = {name: {} for name in resources}
    for name, resource in resources.items():
        for ref in resource_references(name, resource):
            if ref.kind in ("Ref", "GetAtt", "DependsOn") and ref.target in resources:
                edges[name].setdefault(ref.target, ref.where)
    found = []
    for component in _strongly_connected(edges):
        if len(component) == 1 and next(iter(component)) not in edges[next(iter(component))]:
            continue
        cycle = _a_cycle(component, edges)
        steps = " -> ".join(f"{a} (by {edges[a][b]})" for a, b in zip(cycle, cycle[1:]))
        found.append(Finding("cycle", tuple(sorted(component)),
                             f"circular dependency: {steps} -> {cycle[-1]}; CloudFormation refuses the stack", label))
    return found


def _strongly_connected(edges: dict[str, dict[str, str]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; a template's graph is shallow enough to recurse
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def _a_cycle(component: set[str], edges: dict[str, dict[str, str]]) -> list[str]:
    """One cycle through the component's first node (by name): a breadth-first path back to it."""
    start = min(component)
    paths = {nxt: [start, nxt] for nxt in edges[start] if nxt in component}
    queue = list(paths)
    while queue:
        node = queue.pop(0)
        if node == start:
            return paths[node]
        for nxt in edges[node]:
            if nxt in component and nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    return [start, start]


# -- who invokes which function, and whether a Lambda permission covers it


def _function_arns(resolver: Resolver, resources: dict[str, Any]) -> dict[str, str]:
    return {resolver.get_att(n, "Arn"): n for n, r in resources.items() if r.get("Type") == "AWS::Lambda::Function"}


def _invoked_function(uri: Any, resolver: Resolver, by_arn: dict[str, str]) -> str | None:
    text = str(resolver.resolve(uri))
    for arn, name in by_arn.items():
        if f"/functions/{arn}/invocations" in text:
            return name
    return None


@dataclass(frozen=True)
class Invocation:
    """API Gateway invokes ``function`` for ``what`` (a route or authorizer of ``resource``) as ``source_arn``."""

    function: str
    resource: str
    what: str
    source_arn: str


def invocations(template: dict[str, Any], resolver: Resolver) -> list[Invocation]:
    """How API Gateway invokes each function: every route and authorizer, with a request's source ARN."""
    resources = template.get("Resources") or {}
    by_arn = _function_arns(resolver, resources)
    stages: dict[str, list[str]] = {}
    for name, r in resources.items():
        if r.get("Type") == "AWS::ApiGatewayV2::Stage" and resolver.condition_holds(r):
            props = r["Properties"]
            stages.setdefault(str(resolver.resolve(props["ApiId"])), []).append(str(resolver.resolve(props["StageName"])))
    base = f"arn:{PARTITION}:execute-api:{REGION}:{ACCOUNT_ID}"
    calls: list[Invocation] = []
    for name, r in resources.items():
        rtype, props = r.get("Type"), r.get("Properties") or {}
        if not resolver.condition_holds(r):
            continue
        if rtype == "AWS::ApiGatewayV2::Route":
            api = str(resolver.resolve(props["ApiId"]))
            target = str(resolver.resolve(props.get("Target", "")))
            integration = next((n for n, i in resources.items() if i.get("Type") == "AWS::ApiGatewayV2::Integration"
                                and target == f"integrations/{resolver.ref(n)}"), None)
            function = integration and _invoked_function(resources[integration]["Properties"].get("IntegrationUri"), resolver, by_arn)
            if function:
                key = str(resolver.resolve(props["RouteKey"]))
                for stage in stages.get(api, []):
                    method, _, path = key.partition(" ")
                    arn = f"{base}:{api}/{stage}/{_sample(method, path)}" if path else f"{base}:{api}/{stage}/{key}"
                    calls.append(Invocation(function, name, f"route {key}", arn))
        elif rtype == "AWS::ApiGatewayV2::Authorizer":
            function = _invoked_function(props.get("AuthorizerUri"), resolver, by_arn)
            if function:
                api = str(resolver.resolve(props["ApiId"]))
                calls.append(Invocation(function, name, "the authorizer", f"{base}:{api}/authorizers/{resolver.ref(name)}"))
        elif rtype == "AWS::ApiGatewayV2::Api" and isinstance(props.get("Body"), dict):
            api = resolver.ref(name)
            for path, methods in (props["Body"].get("paths") or {}).items():
                for method, operation in (methods or {}).items():
                    integration = (operation or {}).get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
                    function = integration and _invoked_function(integration.get("uri"), resolver, by_arn)
                    if not function:
                        continue
                    verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                    for stage in stages.get(api, []):
                        calls.append(Invocation(function, name, f"route {verb} {path}", f"{base}:{api}/{stage}/{_sample(verb, path)}"))
    return calls


def _sample(method: str, path: str) -> str:
    """A request's part of the source ARN: ANY as GET, each path parameter as one or two segments."""
    path = re.sub(r"\{[^}/]+\+\}", "any/path", path)
    path = re.sub(r"\{[^}/]+\}", "value", path)
    return f"{'GET' if method in ('ANY', '$default') else method}{path}"


def _arn_like(pattern: str, arn: str) -> bool:
    """IAM's ArnLike: ``*`` matches any run of characters, ``?`` any one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def check_permissions(template: dict[str, Any], resolver: Resolver, label: str) -> list[Finding]:
    resources = template.get("Resources") or {}
    granted: dict[str, list[str]] = {}
    for name, r in resources.items():
        props = r.get("Properties") or {}
        if r.get("Type") != "AWS::Lambda::Permission" or not resolver.condition_holds(r):
            continue
        if props.get("Principal") != "apigateway.amazonaws.com" or props.get("Action") not in ("lambda:InvokeFunction", "lambda:*"):
            continue
        function = str(resolver.resolve(props["FunctionName"]))
        for arn, logical in _function_arns(resolver, resources).items():
            if function in (arn, resolver.ref(logical)):
                granted.setdefault(logical, []).append(str(resolver.resolve(props.get("SourceArn", "*"))))
    return [
        Finding("permission", (call.function, call.resource),
                f"API Gateway invokes {call.function} for {call.what} of {call.resource} as {call.source_arn}, but no "
                f"AWS::Lambda::Permission for apigateway.amazonaws.com covers that source ARN", label)
        for call in invocations(template, resolver)
        if not any(_arn_like(pattern, call.source_arn) for pattern in granted.get(call.function, []))
    ]


# -- roles


def _statements(role: dict[str, Any], resolver: Resolver) -> list[dict[str, Any]]:
    statements = []
    for policy in resolver.resolve((role.get("Properties") or {}).get("Policies") or []):
        document = policy.get("PolicyDocument") or {}
        items = document.get("Statement") or []
        statements += [s for s in ([items] if isinstance(items, dict) else items) if s.get("Effect") == "Allow"]
    return statements


def _allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    for statement in statements:
        actions = statement.get("Action") or []
        resources = statement.get("Resource") or []
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if any(_arn_like(a.lower(), action.lower()) for a in actions) and any(_arn_like(str(r), resource) for r in resources):
            return True
    return False


def needs(template: dict[str, Any], resolver: Resolver, function: str) -> list[tuple[str, str, str]]:
    """(action, resource, why) that ``function``'s code calls, from its environment and CODE_CALLS."""
    props = template["Resources"][function].get("Properties") or {}
    env = resolver.resolve((props.get("Environment") or {}).get("Variables") or {})
    wanted = []
    for key, value in sorted(env.items()):
        if key.endswith("_SECRET_ARN") and value:
            wanted.append(("secretsmanager:GetSecretValue", str(value), f"it reads {key}"))
    if env.get("FANOUT_FUNCTION"):
        name = str(env["FANOUT_FUNCTION"])
        arn = name if name.startswith("arn:") else f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        wanted.append(("lambda:InvokeFunction", arn, "it invokes FANOUT_FUNCTION"))
    endpoint = str(env.get("MANAGEMENT_API_ENDPOINT") or "")
    match = re.fullmatch(r"https://([^.]+)\.execute-api\.[^/]+/([^/]+)/?", endpoint)
    if match:
        code = f"{(props.get('Code') or {}).get('S3Key', '')}/{props.get('Handler', '')}"  # as _packaged made it
        for method in sorted(CODE_CALLS.get(code, frozenset({"POST"}))):
            resource = f"arn:{PARTITION}:execute-api:{REGION}:{ACCOUNT_ID}:{match[1]}/{match[2]}/{method}/@connections/AbCdEf0123="
            wanted.append(("execute-api:ManageConnections", resource, f"its code calls {method} @connections"))
    return wanted


def check_roles(template: dict[str, Any], resolver: Resolver, label: str) -> list[Finding]:
    resources = template.get("Resources") or {}
    found = []
    for name, r in resources.items():
        if r.get("Type") != "AWS::Lambda::Function" or not resolver.condition_holds(r):
            continue
        role_ref = (r.get("Properties") or {}).get("Role")
        role = next((t for ref in references(role_ref, name) for t in [ref.target] if t in resources), None)
        statements = _statements(resources[role], resolver) if role else []
        for action, resource, why in needs(template, resolver, name):
            if not _allows(statements, action, resource):
                found.append(Finding("role", (name, role or "its role"),
                                     f"{name}'s role does not allow {action} on {resource}, and {why}", label))
    return found


class _Resolver(Resolver):
    """The local gateway's resolver, with the one helper the rehearsal needs: does a resource's Condition hold."""

    def condition_holds(self, resource: dict[str, Any]) -> bool:
        return "Condition" not in resource or self.condition(resource["Condition"])


# ---------------------------------------------------------------------------- the whole rehearsal


def rehearse(path: str | Path) -> list[Finding]:
    """Every finding on the template at ``path``, transformed with each of ``parameter_sets``."""
    source = load_template(path)
    found: list[Finding] = []
    seen: set[tuple[str, tuple[str, ...], str]] = set()
    for label, parameters in parameter_sets(source).items():
        stack = transform(source, parameters)
        resolver = _Resolver(stack, {k: v for k, v in parameters.items() if k in (stack.get("Parameters") or {})})
        structure = check_cycles(stack, label) + check_references(stack, label)
        # the permissions and roles are resolved, which a dangling reference would only fail again
        resolved = [] if structure else check_permissions(stack, resolver, label) + check_roles(stack, resolver, label)
        for finding in structure + resolved:
            key = (finding.check, finding.resources, finding.message)
            if key not in seen:  # the same finding under both parameter sets is told once
                seen.add(key)
                found.append(finding)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parley_local.rehearsal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default="template.yaml", help="the SAM template (default template.yaml)")
    args = parser.parse_args(argv)
    try:
        findings = rehearse(args.template)
    except (RehearsalError, TemplateError) as exc:
        print(f"deploy rehearsal: {exc}", file=sys.stderr)
        return 1
    if findings:
        print(f"deploy rehearsal: {args.template} would not deploy ({len(findings)} finding(s)):", file=sys.stderr)
        for finding in findings:
            print(f"  {finding}", file=sys.stderr)
        return 1
    print(f"deploy rehearsal: {args.template} transforms into a stack CloudFormation would accept "
          f"(no cycle, no dangling reference, every route permitted, every role sufficient)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
