"""template.yaml packaging and CORS (issue 12, findings 6 and 7; issue 19): what it claims is what `sam build` and
AWS's SAM translator make of it."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.support import ROOT, load_template


def _functions(template) -> dict[str, dict]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def test_the_layer_claims_exactly_the_runtime_it_is_built_for_and_every_function_runs_it(template):
    layer = template["Resources"]["SharedLayer"]
    build = layer["Metadata"]["BuildMethod"]
    assert layer["Properties"]["CompatibleRuntimes"] == [build], "binary wheels are built for one Python only"
    globals_ = template["Globals"]["Function"]
    assert {"Ref": "SharedLayer"} in globals_["Layers"]
    for name, props in _functions(template).items():
        assert props.get("Runtime", globals_["Runtime"]) == build, name


def test_make_build_puts_the_layers_python_on_the_path(template):
    build = template["Resources"]["SharedLayer"]["Metadata"]["BuildMethod"]
    makefile = (ROOT / "Makefile").read_text()
    pattern = re.search(r"^BUILD_PY := \$\(shell sed -n '(.+)' template\.yaml", makefile, re.M)
    assert pattern, "the Makefile reads the BuildMethod from template.yaml"
    found = subprocess.run(["sed", "-n", pattern.group(1), "template.yaml"], cwd=ROOT, capture_output=True, text=True)
    assert found.stdout.split() == [build.removeprefix("python")]  # e.g. 3.12: versions/3.12.*/bin goes first


def test_the_authorizer_has_a_code_directory_of_its_own(template):
    functions = _functions(template)
    assert functions["AuthorizerFunction"]["CodeUri"] == "functions/authorizer/"
    uris = [p["CodeUri"] for k, p in functions.items() if k != "FanoutFunction"]  # fan-out shares message's code
    assert len(uris) == len(set(uris))


# ---------------------------------------------------------------- CORS (finding 7)
def test_the_http_api_cors_follows_allowed_origins_and_parleys_cors_settings(template):
    from parley import origins

    condition, cors, otherwise = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"]
    assert (condition, otherwise) == ("HasAllowedOrigins", {"Ref": "AWS::NoValue"})  # whole: see the template
    assert cors["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "AllowedOrigins"}]}
    assert template["Conditions"]["HasAllowedOrigins"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AllowedOrigins"}, ""]}]}
    assert tuple(cors["AllowMethods"]) == origins.CORS_METHODS
    assert tuple(cors["AllowHeaders"]) == origins.CORS_HEADERS
    assert tuple(cors["ExposeHeaders"]) == origins.CORS_EXPOSE_HEADERS
    assert cors["MaxAge"] == origins.CORS_MAX_AGE and cors["AllowCredentials"] is False  # tokens, not cookies


def test_fastapi_and_the_authorizer_read_the_same_allowed_origins_and_only_the_authorizer_knows_the_page(template):
    """The page's WebSocket is cross-origin (another API's host), its HTTP calls same-origin (CloudFront sends the
    API's paths to the HTTP API): only the authorizer needs the page's origin, the distribution's, and AuthFunction
    must not name the HTTP API that integrates it (a cycle)."""
    functions = _functions(template)
    auth = functions["AuthFunction"]["Environment"]["Variables"]["ALLOWED_ORIGINS"]
    authorizer = functions["AuthorizerFunction"]["Environment"]["Variables"]["ALLOWED_ORIGINS"]
    assert auth == authorizer == {"Ref": "AllowedOrigins"}
    page = functions["AuthorizerFunction"]["Environment"]["Variables"]["PAGE_ORIGIN"]
    assert page == {"Fn::Sub": "https://${PageDistribution.DomainName}"}
    assert "PAGE_ORIGIN" not in functions["AuthFunction"]["Environment"]["Variables"]


def test_allowed_origins_must_be_exact_origins(template):
    pattern = re.compile(template["Parameters"]["AllowedOrigins"]["AllowedPattern"])
    for good in ("", "*", "https://chat.example.com", "https://a.example.com,http://localhost:5173"):
        assert pattern.fullmatch(good), good
    for bad in ("https://a.example.com, https://b.example.com", "https://a.example.com/", "a.example.com", "https://a/b"):
        assert not pattern.fullmatch(bad), bad


def test_the_local_gateway_reads_the_cors_configuration_as_deployed():
    from parley_local.template import read_stack

    path = ROOT / "template.yaml"
    overrides = {"MongoDbUri": "x", "AllowedOrigins": "https://a.example.com,https://b.example.com"}
    cors = read_stack(path, overrides).http_cors["HttpApi"]
    assert cors.allow_origins == ("https://a.example.com", "https://b.example.com")
    assert cors.allows("https://b.example.com") and not cors.allows("https://c.example.com")
    assert "HttpApi" not in read_stack(path, {"MongoDbUri": "x"}).http_cors  # none by default: FastAPI answers


# ---------------------------------------------------------------- issue 19: what AWS's SAM translator makes of it
def sam_transform(template: dict, parameters: dict[str, str]) -> dict:
    """``template`` as CloudFormation's AWS::Serverless transform turns it into a stack (aws-sam-translator, the
    code CloudFormation runs), with these parameter values; local CodeUri/ContentUri paths become s3:// URIs
    first, as `sam deploy` uploads them (the translator accepts nothing else)."""
    import copy
    import os

    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = "s3://parley-artifacts/" + props[key].strip("/")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the partition of the managed policies' ARNs
    return Translator(managed_policy_map={}, sam_parser=Parser()).translate(
        sam_template=template, parameter_values={"MongoDbUri": "mongodb://h/", **parameters})


def _serverless(stack: dict) -> dict[str, dict]:
    """The Lambda functions SAM made of the template's AWS::Serverless::Function resources (Globals apply to them;
    not to a plain AWS::Lambda::Function such as the log-role custom resource's)."""
    return {name: r for name, r in stack["Resources"].items()
            if r["Type"] == "AWS::Lambda::Function" and "lambda:createdBy" in str(r["Properties"].get("Tags"))}


def _roles_with_xray(stack: dict) -> dict[str, list]:
    """Each SAM function's role -> its managed policies that are X-Ray's."""
    roles = {}
    for resource in _serverless(stack).values():
        role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        arns = stack["Resources"][role]["Properties"].get("ManagedPolicyArns", [])
        roles[role] = [a for a in arns if "xray" in str(a).lower()]
    return roles


@pytest.mark.parametrize("mode", ["Disabled", "Active"])
def test_the_xray_policy_and_tracing_config_come_only_with_active_tracing(template, mode):
    stack = sam_transform(template, {"TracingMode": mode})
    roles = _roles_with_xray(stack)
    assert len(roles) == len(_functions(template))
    functions = [r["Properties"] for r in _serverless(stack).values()]
    if mode == "Disabled":
        assert roles == {role: [] for role in roles}  # no AWSXrayWriteOnlyAccess on any role
        assert all("TracingConfig" not in f for f in functions)  # Lambda's default: PassThrough
    else:
        assert roles == {role: ["arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"] for role in roles}
        assert all(f["TracingConfig"] == {"Mode": {"Ref": "TracingMode"}} for f in functions)


def test_an_if_for_tracing_would_give_every_role_the_xray_policy(template):
    """Why Globals' Tracing is a Ref: SAM resolves only Refs to parameters when it decides on the X-Ray policy,
    so the !If [TracingEnabled, Active, PassThrough] this template had attached it with tracing off too."""
    import copy

    old = copy.deepcopy(template)
    old["Globals"]["Function"]["Tracing"] = {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]}
    roles = _roles_with_xray(sam_transform(old, {"TracingMode": "Disabled"}))
    assert roles and all(roles.values())


@pytest.mark.parametrize("mode", ["Disabled", "Active"])
def test_the_tracing_layer_is_given_to_every_function_only_under_tracing_enabled(template, mode):
    stack = sam_transform(template, {"TracingMode": mode})
    layers = {k: r for k, r in stack["Resources"].items() if r["Type"] == "AWS::Lambda::LayerVersion"}
    shared = next(k for k in layers if k.startswith("SharedLayer"))
    tracing = next(k for k in layers if k.startswith("TracingLayer"))
    assert layers[tracing].get("Condition") == "TracingEnabled" and "Condition" not in layers[shared]
    for name, resource in _serverless(stack).items():
        assert resource["Properties"]["Layers"] == [
            {"Ref": shared}, {"Fn::If": ["TracingEnabled", {"Ref": tracing}, {"Ref": "AWS::NoValue"}]}], name
    assert template["Conditions"]["TracingEnabled"] == {"Fn::Equals": [{"Ref": "TracingMode"}, "Active"]}


def test_the_functions_and_the_shared_layer_follow_the_architecture_parameter(template):
    assert template["Parameters"]["Architecture"]["AllowedValues"] == ["x86_64", "arm64"]
    assert template["Parameters"]["Architecture"]["Default"] == "x86_64"
    layer = template["Resources"]["SharedLayer"]
    assert layer["Metadata"]["BuildArchitecture"] == {"Ref": "Architecture"}  # sam build: tests/test_build.py
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    stack = sam_transform(template, {"Architecture": "arm64"})
    for name, resource in _serverless(stack).items():
        assert resource["Properties"]["Architectures"] == [{"Ref": "Architecture"}], name
    tracing = template["Resources"]["TracingLayer"]
    assert tracing["Properties"]["CompatibleArchitectures"] == ["x86_64", "arm64"]  # pure Python (tests/test_build.py)


def test_make_build_passes_the_architecture_to_sam_build():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^ARCH \?= x86_64$", makefile, re.M)
    assert "--parameter-overrides Architecture=$(ARCH)" in makefile
