"""The deploy rehearsal (parley_local/rehearsal.py) passes template.yaml and fails each variant AWS would refuse or
break, naming the resources involved; `make rehearse`, `make run` and `make test` stop on a failed rehearsal."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path

import pytest

from parley_local import rehearsal
from parley_local.cloudformation import load_template

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def source():
    return load_template(ROOT / "template.yaml")


def _write(tmp_path: Path, template: dict) -> Path:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    return path


def _findings(tmp_path: Path, template: dict) -> list[rehearsal.Finding]:
    return rehearsal.rehearse(_write(tmp_path, template))


def _with_cycle(source: dict) -> dict:
    """What the CORS change did: AuthFunction names the HTTP API that integrates it."""
    broken = copy.deepcopy(source)
    env = broken["Resources"]["AuthFunction"]["Properties"]["Environment"]["Variables"]
    env["ALLOWED_ORIGINS"] = {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com,${AllowedOrigins}"}
    return broken


def _drop_statement(source: dict, function: str, needle: str) -> dict:
    """``function``'s policies without the grants (resources, or whole statements) that mention ``needle``."""
    broken = copy.deepcopy(source)
    policies = broken["Resources"][function]["Properties"]["Policies"]
    dropped = 0
    for policy in list(policies):
        for statement in list(policy.get("Statement", [])) if isinstance(policy, dict) else []:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            kept = [r for r in resources if needle not in json.dumps(r)]
            if needle in json.dumps(statement["Action"]) or not kept:
                policy["Statement"].remove(statement)
            statement["Resource"] = kept
            dropped += len(resources) - len(kept) or needle in json.dumps(statement["Action"])
        if isinstance(policy, dict) and "Statement" in policy and not policy["Statement"]:
            policies.remove(policy)
    assert dropped == 1, f"{function} has no single grant with {needle}"
    return broken


def test_template_yaml_passes_under_every_parameter_set(source):
    assert rehearsal.rehearse(ROOT / "template.yaml") == []
    sets = rehearsal.parameter_sets(source)
    assert set(sets) == {"defaults", "features on"}
    assert sets["features on"]["TracingMode"] == "Active" and sets["features on"]["MongoDbSecretArn"]
    assert sets["features on"]["SubnetIds"] and sets["features on"]["Architecture"] == "arm64"


def test_the_transform_is_aws_sams_own(source):
    stack = rehearsal.transform(source, rehearsal.parameter_sets(source)["defaults"])
    assert "Transform" not in stack
    types = {r["Type"] for r in stack["Resources"].values()}
    assert "AWS::Serverless::Function" not in types and "AWS::Lambda::Function" in types
    assert stack["Resources"]["HttpApi"]["Type"] == "AWS::ApiGatewayV2::Api"  # with the routes in its OpenAPI body


def test_the_cors_cycle_is_found_and_named(tmp_path, source):
    findings = _findings(tmp_path, _with_cycle(source))
    cycles = [f for f in findings if f.check == "cycle"]
    assert [f.resources for f in cycles] == [("AuthFunction", "HttpApi")]
    assert "ALLOWED_ORIGINS" in cycles[0].message and "x-amazon-apigateway-integration" in cycles[0].message


def test_a_longer_cycle_through_depends_on_is_found(tmp_path, source):
    broken = copy.deepcopy(source)
    broken["Resources"]["WebSocketApi"]["DependsOn"] = "ConnectRoute"  # ConnectRoute -> ConnectIntegration... -> WebSocketApi
    (cycle,) = [f for f in _findings(tmp_path, broken) if f.check == "cycle"]
    assert {"WebSocketApi", "ConnectRoute"} <= set(cycle.resources)


def test_a_missing_lambda_permission_is_found(tmp_path, source):
    broken = copy.deepcopy(source)
    del broken["Resources"]["ConnectPermission"]
    findings = _findings(tmp_path, broken)
    assert [(f.check, f.resources) for f in findings] == [("permission", ("ConnectFunction", "ConnectRoute"))]
    assert "/prod/$connect" in findings[0].message


def test_a_permission_that_covers_too_little_is_found(tmp_path, source):
    broken = copy.deepcopy(source)
    permission = broken["Resources"]["MessagePermission"]["Properties"]
    permission["SourceArn"] = {"Fn::Sub": permission["SourceArn"]["Fn::Sub"].replace("/*", "/$default")}
    routes = {f.resources[1] for f in _findings(tmp_path, broken) if f.check == "permission"}
    assert "SendMessageRoute" in routes and "DefaultRoute" not in routes


def test_the_authorizer_needs_its_permission_too(tmp_path, source):
    broken = copy.deepcopy(source)
    del broken["Resources"]["AuthorizerPermission"]
    findings = _findings(tmp_path, broken)
    assert [(f.check, f.resources) for f in findings] == [("permission", ("AuthorizerFunction", "WebSocketAuthorizer"))]
    assert "/authorizers/" in findings[0].message


def test_the_http_api_routes_sam_generates_are_checked_too(source):
    stack = rehearsal.transform(source, rehearsal.parameter_sets(source)["defaults"])
    resolver = rehearsal._Resolver(stack, rehearsal.parameter_sets(source)["defaults"])
    routes = {(c.resource, c.what) for c in rehearsal.invocations(stack, resolver) if c.function == "AuthFunction"}
    assert {("HttpApi", "route POST /auth/signup"), ("HttpApi", "route ANY /{proxy+}")} <= routes
    assert ("HttpApi", "route GET /") not in routes  # the page is CloudFront's and the bucket's (issue 20, section 5)
    assert rehearsal.check_permissions(stack, resolver, "defaults") == []
    del stack["Resources"]["AuthFunctionProxyPermission"]  # SAM's permission for ANY /{proxy+}
    (finding,) = rehearsal.check_permissions(stack, resolver, "defaults")
    assert finding.resources == ("AuthFunction", "HttpApi") and "/$default/GET/any/path" in finding.message


@pytest.mark.parametrize(("function", "needle", "what"), [
    ("MessageFunction", "/DELETE/@connections", "DELETE @connections"),
    ("AuthFunction", "/DELETE/@connections", "DELETE @connections"),
    ("ConnectFunction", "/GET/@connections", "GET @connections"),
    ("DisconnectFunction", "lambda:InvokeFunction", "FANOUT_FUNCTION"),
])
def test_a_role_without_what_the_code_calls_is_found(tmp_path, source, function, needle, what):
    findings = _findings(tmp_path, _drop_statement(source, function, needle))
    assert [(f.check, f.resources[0]) for f in findings] == [("role", function)], findings
    assert what in findings[0].message


def test_a_role_that_cannot_read_its_secret_is_found_under_the_parameters_that_need_it(tmp_path, source):
    broken = copy.deepcopy(source)
    policies = broken["Resources"]["ConnectFunction"]["Properties"]["Policies"]
    for policy in policies:  # reads only the stack's own secret: the MongoDbSecretArn given instead is refused
        if "AWSSecretsManagerGetSecretValuePolicy" in policy:
            policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"] = {"Ref": "MongoDbSecret"}
    findings = _findings(tmp_path, broken)
    assert [(f.check, f.resources[0], f.parameters) for f in findings] == [("role", "ConnectFunction", "features on")]


@pytest.mark.parametrize(("mutate", "check"), [
    (lambda t: t["Resources"]["FanoutFunction"]["Properties"]["Environment"]["Variables"].update(X={"Ref": "NoSuchThing"}), "reference"),
    (lambda t: t["Resources"]["JwtSecret"].update(Condition="NoSuchCondition"), "reference"),
    (lambda t: t["Outputs"]["HttpApiUrl"].update(Value={"Fn::GetAtt": ["WebSocketApi", "Endpoint"]}), "attribute"),
    (lambda t: t["Outputs"]["HttpApiUrl"].update(Value={"Fn::Sub": "${FanoutFunction.Name}"}), "attribute"),
])
def test_dangling_references_and_unknown_attributes_are_found(tmp_path, source, mutate, check):
    broken = copy.deepcopy(source)
    mutate(broken)
    assert [f.check for f in _findings(tmp_path, broken)] == [check]


def test_a_template_sam_refuses_is_a_rehearsal_error(tmp_path, source):
    broken = copy.deepcopy(source)
    broken["Resources"]["AuthFunction"]["Properties"]["Events"]["Login"]["Properties"]["ApiId"] = {"Ref": "NoSuchApi"}
    with pytest.raises(rehearsal.RehearsalError, match="AuthFunction"):
        rehearsal.rehearse(_write(tmp_path, broken))


# ---------------------------------------------------------------- the commands stop on a failed rehearsal


def _make(target: str, template: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORT": "0", "MAKEFLAGS": ""}
    return subprocess.run(["make", "--no-print-directory", target, f"TEMPLATE={template}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("target", ["rehearse", "run", "test"])
def test_make_stops_on_the_cycle_before_serving_or_testing(tmp_path, source, target):
    done = _make(target, _write(tmp_path, _with_cycle(source)))
    assert done.returncode != 0
    assert "circular dependency" in done.stderr and "AuthFunction" in done.stderr
    assert "Parley is running" not in done.stdout
    assert "-m pytest" not in done.stdout and "cfn-lint" not in done.stdout  # `make test` stopped before them


@pytest.mark.parametrize("target", ["run", "test"])
def test_make_stops_on_a_missing_permission_and_a_role_without_delete(tmp_path, source, target):
    broken = _drop_statement(source, "MessageFunction", "/DELETE/@connections")
    del broken["Resources"]["ConnectPermission"]
    done = _make(target, _write(tmp_path, broken))
    assert done.returncode != 0 and "Parley is running" not in done.stdout
    assert "[permission] ConnectFunction" in done.stderr and "[role] MessageFunction" in done.stderr
