"""template.yaml on a new account (issue 19, section 3), checked on what AWS's SAM translator makes of it.

The template is transformed with aws-sam-translator (the code CloudFormation runs for
Transform: AWS::Serverless-2016-10-31), with the local CodeUri/ContentUri paths replaced by s3:// URIs as cfn-lint
does, and the tests assert on the generated resources; conditions and rules are evaluated with the local gateway's
resolver (parley_local.cloudformation.Resolver) for chosen parameter values.
"""

from __future__ import annotations

import copy
import re

import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from parley_local.cloudformation import Resolver
from tests.support import ROOT, load_template

DB_FUNCTIONS = {"ConnectFunction", "DisconnectFunction", "MessageFunction", "AuthorizerFunction", "AuthFunction"}
APP_FUNCTIONS = DB_FUNCTIONS | {"FanoutFunction"}
VPC = {"SubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1", "SecurityGroupIds": "sg-0123456789abcdef0",
       "VpcId": "vpc-0123456789abcdef0"}
MANAGED = {  # the managed policies SAM may attach (the translator asks IAM for their ARNs otherwise)
    name: f"arn:aws:iam::aws:policy/{path}"
    for name, path in {"AWSLambdaBasicExecutionRole": "service-role/AWSLambdaBasicExecutionRole",
                       "AWSXrayWriteOnlyAccess": "AWSXrayWriteOnlyAccess",
                       "AWSLambdaVPCAccessExecutionRole": "service-role/AWSLambdaVPCAccessExecutionRole"}.items()
}


def transform(template: dict) -> dict:
    """What CloudFormation deploys: SAM's own translator over the template, local code paths made s3:// URIs."""
    sam = copy.deepcopy(template)
    for resource in sam["Resources"].values():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://bucket/{props[key].strip('/')}.zip"
    return Translator(managed_policy_map=MANAGED, sam_parser=Parser()).translate(
        sam_template=sam, parameter_values={}, passthrough_metadata=True
    )


@pytest.fixture(scope="module")
def deployed():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the translator's ARNs name the partition of this region
        return transform(load_template())


def _refs(node, found=None) -> set[str]:
    """Every logical id a node names: Ref, Fn::GetAtt and ${X} / ${X.Attr} in Fn::Sub."""
    found = set() if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value.split(".")[0] if isinstance(value, str) else value[0])
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text) if m not in variables)
                _refs(variables, found)
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)
    return found


def _graph(deployed: dict) -> dict[str, set[str]]:
    resources = deployed["Resources"]
    graph = {}
    for name, resource in resources.items():
        depends = resource.get("DependsOn", [])
        edges = _refs({k: resource.get(k) for k in ("Properties", "Metadata")}) | set(
            [depends] if isinstance(depends, str) else depends)
        graph[name] = {e for e in edges if e in resources}
    return graph


def _reaches(graph, start, goal) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def _resolver(**overrides) -> Resolver:
    return Resolver(load_template(), {"MongoDbUri": "mongodb://h/", **overrides})


# ---------------------------------------------------------------- the new resources add no cycle
def test_the_new_resources_add_no_cycle_and_name_only_what_exists(deployed):
    graph = _graph(deployed)
    for name in ("ApiGatewayLogRoleCheck", "ApiGatewayLogRoleFunction", "ApiGatewayLogRoleFunctionRole",
                 "MongoDbSecretKeyPolicy", "VpcFunctionSecurityGroup", "SecretsManagerEndpointSecurityGroup",
                 "SecretsManagerEndpointIngress", "SecretsManagerVpcEndpoint"):
        assert name in graph, name
        assert not any(_reaches(graph, dep, name) for dep in graph[name]), f"{name} is on a cycle"
    names = set(deployed["Resources"]) | set(deployed["Parameters"])
    for name in graph:
        dangling = {r for r in _refs(deployed["Resources"][name]) if not r.startswith("AWS::")} - names
        assert not dangling, (name, dangling)


def test_the_stage_waits_for_the_log_role_check_which_never_waits_for_the_stage(deployed):
    graph = _graph(deployed)
    assert _reaches(graph, "WebSocketStage", "ApiGatewayLogRoleCheck")  # via ApiGatewayLogRoleReady's Metadata
    assert _reaches(graph, "WebSocketStage", "ApiGatewayAccount")
    for name in ("ApiGatewayLogRoleCheck", "ApiGatewayLogRoleFunction", "ApiGatewayLogRoleFunctionRole"):
        assert not _reaches(graph, name, "WebSocketStage") and not _reaches(graph, name, "WebSocketApi"), name
        assert not any(_reaches(graph, name, f) for f in APP_FUNCTIONS), name


# ---------------------------------------------------------------- ApiGatewayAccountLogRole=auto
def test_the_log_role_check_runs_outside_the_vpc_with_least_privilege(deployed):
    resources = deployed["Resources"]
    check = resources["ApiGatewayLogRoleCheck"]
    assert check["Condition"] == "AutoApiGatewayLogRole"
    assert check["Properties"] == {"ServiceToken": {"Fn::GetAtt": ["ApiGatewayLogRoleFunction", "Arn"]},
                                   "RoleArn": {"Fn::GetAtt": ["ApiGatewayLogRole", "Arn"]}}
    function = resources["ApiGatewayLogRoleFunction"]["Properties"]
    assert "VpcConfig" not in function  # not a SAM function: no Globals, never in the VPC (it must answer CloudFormation)
    (layer,) = function["Layers"]  # the shared layer alone (parley.custom_resource), under its versioned SAM name
    assert layer["Ref"].startswith("SharedLayer")
    module, _, name = function["Handler"].partition(".")
    source = (ROOT / function["Code"] / f"{module}.py").read_text()
    assert f"def {name}(" in source
    role = resources["ApiGatewayLogRoleFunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    granted = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert granted == {"apigateway:GET", "apigateway:PATCH", "iam:PassRole", "logs:CreateLogStream", "logs:PutLogEvents"}
    by_action = {a: s for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert by_action["apigateway:PATCH"]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/account"}
    assert by_action["iam:PassRole"]["Resource"] == {"Fn::GetAtt": ["ApiGatewayLogRole", "Arn"]}
    assert by_action["iam:PassRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "apigateway.amazonaws.com"}}
    assert all(s["Effect"] == "Allow" and "*" not in str(s["Resource"]) for s in statements)


@pytest.mark.parametrize("mode, exists", [("auto", True), ("create", False), ("existing", False)])
def test_only_auto_deploys_the_check(mode, exists):
    r = _resolver(ApiGatewayAccountLogRole=mode)
    template = load_template()
    for name in ("ApiGatewayLogRoleCheck", "ApiGatewayLogRoleFunction", "ApiGatewayLogRoleFunctionRole",
                 "ApiGatewayLogRoleFunctionLogGroup"):
        assert r.condition(template["Resources"][name]["Condition"]) is exists, (mode, name)


# ---------------------------------------------------------------- DatabaseMigration (issue 20)
def test_the_migration_runs_on_every_relevant_change_before_the_database_functions(deployed):
    resources = deployed["Resources"]
    migration = resources["DatabaseMigration"]["Properties"]
    assert migration["ServiceToken"] == {"Fn::GetAtt": ["MigrationFunction", "Arn"]}
    # a change of any of these is an Update: the migration runs again
    assert migration["MessageRetentionDays"] == {"Ref": "MessageRetentionDays"}
    assert "MigrationVersion" in migration and "SharedLayer" in str(migration["SharedLayer"])
    graph = _graph(deployed)
    for name in DB_FUNCTIONS:  # new code serves once its indexes exist; nothing the migration needs waits on them
        assert _reaches(graph, name, "DatabaseMigration"), name
        assert not _reaches(graph, "DatabaseMigration", name), name
    function = resources["MigrationFunction"]["Properties"]
    assert function["VpcConfig"] == resources["ConnectFunction"]["Properties"]["VpcConfig"]  # like the others
    assert function["Layers"] == [{"Ref": next(n for n in resources if n.startswith("SharedLayer"))}]
    role = resources["MigrationFunctionRole"]["Properties"]
    (policy,) = role["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    granted = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert granted == {"secretsmanager:GetSecretValue", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert all("*" not in str(s["Resource"]) for s in statements)


# ---------------------------------------------------------------- FanoutMaxConcurrency
def test_no_function_reserves_concurrency_by_default(deployed):
    r = _resolver()
    for name in APP_FUNCTIONS:
        props = deployed["Resources"][name]["Properties"]
        assert r.resolve({"x": props.get("ReservedConcurrentExecutions", {"Ref": "AWS::NoValue"})}) == {}, name


# ---------------------------------------------------------------- KmsKeyArn
def test_kms_decrypt_is_granted_only_with_kms_key_arn_and_only_to_the_secrets_readers(deployed):
    resources = deployed["Resources"]
    kms = {name: r for name, r in resources.items() if "kms:" in str(r.get("Properties"))}
    assert set(kms) == {"MongoDbSecretKeyPolicy"}  # nothing else anywhere mentions KMS
    policy = kms["MongoDbSecretKeyPolicy"]
    assert policy["Condition"] == "HasKmsKey"
    readers = {name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"
               and "MONGODB_URI_SECRET_ARN" in str(r["Properties"].get("Environment"))}
    assert readers == DB_FUNCTIONS | {"MigrationFunction"}  # the deploy-time migration reads it too
    roles = {resources[name]["Properties"]["Role"]["Fn::GetAtt"][0] for name in readers}
    assert {r["Ref"] for r in policy["Properties"]["Roles"]} == roles
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement == {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Ref": "KmsKeyArn"},
                         "Condition": {"StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}}}
    assert _resolver().condition("HasKmsKey") is False
    assert _resolver(KmsKeyArn="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab").condition("HasKmsKey")


@pytest.mark.parametrize("value, ok", [
    ("", True), ("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", True),
    ("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd", True),
    ("arn:aws:kms:eu-west-1:123456789012:alias/parley", False),  # an alias ARN does not match kms:Decrypt's key
    ("1234abcd-12ab-34cd-56ef-1234567890ab", False), ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:x", False),
])
def test_kms_key_arn_must_be_a_key_arn(value, ok):
    pattern = load_template()["Parameters"]["KmsKeyArn"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is ok


# ---------------------------------------------------------------- VPC mode
def test_every_function_runs_in_the_vpc_under_the_condition_and_sam_grants_eni_access(deployed):
    resources = deployed["Resources"]
    expected = {"Fn::If": ["UseVpc", {"SubnetIds": {"Fn::Split": [",", {"Ref": "SubnetIds"}]},
                                      "SecurityGroupIds": {"Fn::Split": [",", {"Fn::Sub": "${VpcFunctionSecurityGroup},${SecurityGroupIds}"}]}},
                           {"Ref": "AWS::NoValue"}]}
    for name in APP_FUNCTIONS:
        props = resources[name]["Properties"]
        assert props["VpcConfig"] == expected, name
        role = resources[props["Role"]["Fn::GetAtt"][0]]["Properties"]
        # A fact of the translator, pinned because docs/architecture.md states it: SAM adds this policy whenever
        # VpcConfig is present, even under a condition that is false (no VPC: the roles may still manage ENIs).
        assert MANAGED["AWSLambdaVPCAccessExecutionRole"] in role["ManagedPolicyArns"], name
    no_vpc, vpc = _resolver(), _resolver(**VPC)
    assert no_vpc.resolve({"x": expected}) == {}
    assert vpc.resolve(expected) == {"SubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
                                     "SecurityGroupIds": ["VpcFunctionSecurityGroup", "sg-0123456789abcdef0"]}


def test_a_secrets_manager_endpoint_and_never_an_execute_api_endpoint(deployed):
    resources = deployed["Resources"]
    endpoints = {n: r for n, r in resources.items() if r["Type"] == "AWS::EC2::VPCEndpoint"}
    assert set(endpoints) == {"SecretsManagerVpcEndpoint"}  # no execute-api endpoint: it would break @connections
    endpoint = endpoints["SecretsManagerVpcEndpoint"]
    assert endpoint["Condition"] == "CreateSecretsManagerEndpoint"
    props = endpoint["Properties"]
    assert props["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.secretsmanager"}
    assert props["VpcEndpointType"] == "Interface" and props["PrivateDnsEnabled"] is True
    assert props["SubnetIds"] == {"Fn::Split": [",", {"Ref": "SubnetIds"}]}
    ingress = resources["SecretsManagerEndpointIngress"]["Properties"]
    assert ingress["GroupId"] == {"Ref": "SecretsManagerEndpointSecurityGroup"}
    assert ingress["SourceSecurityGroupId"] == {"Ref": "VpcFunctionSecurityGroup"}
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 443, 443)


@pytest.mark.parametrize("overrides, vpc, endpoint", [
    ({}, False, False),
    (VPC, True, True),
    ({**VPC, "VpcEndpoints": "existing"}, True, False),
])
def test_vpc_conditions(overrides, vpc, endpoint):
    r = _resolver(**overrides)
    assert (r.condition("UseVpc"), r.condition("CreateSecretsManagerEndpoint")) == (vpc, endpoint)


def _rules_hold(**overrides) -> bool:
    r = _resolver(**overrides)
    rules = load_template()["Rules"]["VpcModeComplete"]["Assertions"]
    return all(r.resolve(a["Assert"]) for a in rules)


def test_vpc_mode_is_all_or_nothing():
    assert _rules_hold() and _rules_hold(**VPC) and _rules_hold(**VPC, VpcEndpoints="existing")
    for missing in VPC:
        assert not _rules_hold(**{k: v for k, v in VPC.items() if k != missing}), missing


@pytest.mark.parametrize("name, value, ok", [
    ("SubnetIds", "subnet-0123456789abcdef0", True), ("SubnetIds", "subnet-01234567,subnet-89abcdef", True),
    ("SubnetIds", "subnet-01234567, subnet-89abcdef", False), ("SubnetIds", "sg-01234567", False),
    ("SecurityGroupIds", "sg-01234567,sg-89abcdef", True),
    ("SecurityGroupIds", "sg-01234567,sg-01234568,sg-01234569,sg-0123456a,sg-0123456b", False),  # Lambda allows 5 with the stack's
    ("VpcId", "vpc-0123456789abcdef0", True), ("VpcId", "subnet-01234567", False),
])
def test_vpc_parameters_are_pattern_checked(name, value, ok):
    pattern = load_template()["Parameters"][name]["AllowedPattern"]
    assert re.fullmatch(pattern, "") and bool(re.fullmatch(pattern, value)) is ok
