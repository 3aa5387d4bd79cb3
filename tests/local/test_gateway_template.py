"""Reading templates: intrinsics, parameters, conditions, env assembly and URL rewriting, clean start/stop."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap

import pytest
import websockets

from parley_local.lambda_runtime import HandlerLoadError
from parley_local.server import LocalGateway
from parley_local.cloudformation import Resolver, TemplateError, load_template
from parley_local.template import read_stack, rewrite_urls


def resolver(yaml_text: str, **overrides: str) -> Resolver:
    return Resolver({"Resources": {}, **_load(yaml_text)}, overrides, stack_name="stack")


def _load(text: str) -> dict:
    import yaml

    from parley_local.cloudformation import _CfnLoader

    return yaml.load(textwrap.dedent(text), Loader=_CfnLoader)


def test_intrinsic_functions():
    r = resolver(
        """
        Parameters:
          Stage: {Type: String, Default: prod}
          Flag: {Type: String, Default: "yes"}
        Conditions:
          IsYes: !Equals [!Ref Flag, "yes"]
          NotYes: !Not [!Condition IsYes]
        Resources:
          Api: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET}}
          Fn: {Type: AWS::Serverless::Function, Properties: {CodeUri: x/, Handler: a.b}}
          Secret: {Type: AWS::SecretsManager::Secret}
        """,
        Stage="dev",
    )
    assert r.resolve({"Ref": "Stage"}) == "dev"
    assert r.resolve({"Fn::Sub": "${AWS::Region}/${AWS::AccountId}/${AWS::StackName}/${Stage}/${!Literal}"}) == (
        "us-east-1/123456789012/stack/dev/${Literal}"
    )
    assert r.resolve({"Fn::Sub": ["${A}-${Stage}", {"A": {"Ref": "AWS::Partition"}}]}) == "aws-dev"
    api_id = r.resolve({"Ref": "Api"})
    assert len(api_id) == 10 and api_id.isalnum() and api_id == api_id.lower()
    assert r.resolve({"Fn::GetAtt": ["Api", "ApiEndpoint"]}) == f"wss://{api_id}.execute-api.us-east-1.amazonaws.com"
    assert r.resolve({"Fn::GetAtt": ["Fn", "Arn"]}).startswith("arn:aws:lambda:us-east-1:123456789012:function:stack-Fn-")
    assert r.resolve({"Ref": "Secret"}).startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:Secret-")
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}) == "a-dev"
    assert r.resolve({"Fn::Split": [",", "x,y,z"]}) == ["x", "y", "z"]
    assert r.resolve({"Fn::If": ["IsYes", "on", "off"]}) == "on"
    assert r.resolve({"Fn::If": ["NotYes", "on", {"Ref": "AWS::NoValue"}]}) is not None
    assert r.resolve({"A": {"Fn::If": ["NotYes", "on", {"Ref": "AWS::NoValue"}]}}) == {}
    assert r.resolve({"Fn::Or": [{"Fn::Equals": ["a", "b"]}, {"Condition": "IsYes"}]}) is True


@pytest.mark.parametrize("name", ["Fn::Select", "Fn::FindInMap", "Fn::Base64", "Fn::ImportValue", "Fn::And"])
def test_an_intrinsic_the_templates_do_not_use_is_refused_by_name(name):
    r = resolver("Resources: {}")
    with pytest.raises(TemplateError, match=f"intrinsic function {name} is not supported"):
        r.resolve({"Items": [{name: ["a", "b"]}]})


def test_every_intrinsic_the_templates_use_is_supported(repo_root):
    """template.yaml and the fixture app's template use only what the resolver reads."""
    from parley_local.cloudformation import Resolver

    for path in (repo_root / "template.yaml", repo_root / "tests/local/fixture_app/template.yaml"):
        used = set()

        def walk(node):
            if isinstance(node, dict):
                used.update(k for k in node if k.startswith("Fn::"))
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(load_template(path))
        assert used <= set(Resolver.SUPPORTED), (path, used - set(Resolver.SUPPORTED))


def test_parameter_errors():
    with pytest.raises(TemplateError, match="undeclared parameter"):
        resolver("Parameters: {A: {Type: String}}", B="1")
    r = resolver("Parameters: {A: {Type: String}}")
    with pytest.raises(TemplateError, match="--parameter-overrides A="):
        r.resolve({"Ref": "A"})
    with pytest.raises(TemplateError, match="no such parameter or resource"):
        r.resolve({"Ref": "Missing"})


def test_rewrite_urls():
    kwargs = dict(websocket_api_id="wsid000000", http_api_ids=["http000000"], base="http://h:1", ws_base="ws://h:1")
    assert rewrite_urls("wss://wsid000000.execute-api.eu-west-1.amazonaws.com/prod", **kwargs) == "ws://h:1/prod"
    assert rewrite_urls("https://wsid000000.execute-api.us-east-1.amazonaws.com/prod", **kwargs) == "http://h:1/prod"
    assert rewrite_urls("https://http000000.execute-api.us-east-1.amazonaws.com,https://x.test", **kwargs) == (
        "http://h:1,https://x.test"
    )
    assert rewrite_urls("https://other00000.execute-api.us-east-1.amazonaws.com", **kwargs).startswith("https://other")


def test_fixture_stack_and_conditions(fixture_template):
    stack = read_stack(fixture_template, {"Secret": "x"})
    api = stack.websocket_api
    assert api.stage == "test" and api.route_selection_expression == "$request.body.action"
    assert set(api.routes) == {"$connect", "$disconnect", "$default", "echo", "fail", "slow", "inspect"}
    assert api.routes["$connect"].authorizer.identity_sources == ["route.request.querystring.token"]
    assert api.routes["$disconnect"].function_id == "DisconnectFunction"  # via !Join + !GetAtt
    assert stack.functions["MessageFunction"].timeout == 3 and stack.functions["HttpFunction"].timeout == 5
    without = read_stack(fixture_template, {"Secret": "x", "WithDefaultRoute": "false"})
    assert "$default" not in without.websocket_api.routes


def test_the_project_template_is_served(repo_root):
    """Every route of template.yaml reaches a function with a handler file, and the HTTP API has its events."""
    stack = read_stack(repo_root / "template.yaml", {"MongoDbUri": "mongodb://example.invalid"})
    api = stack.websocket_api
    assert api is not None and api.routes["$connect"].authorizer is not None
    assert api.routes["$connect"].authorizer.identity_sources == ["route.request.querystring.token"]
    for route in api.routes.values():
        spec = stack.functions[route.function_id]
        module = spec.handler.rpartition(".")[0]
        assert (spec.code_uri / f"{module}.py").is_file(), route.route_key
    assert {r.route_key for r in stack.http_routes} >= {"ANY /{proxy+}"}
    assert stack.page is not None and stack.page.source == repo_root / "functions" / "auth" / "static"
    assert stack.page.behavior_for("/").to_bucket and not stack.page.behavior_for("/auth/login").to_bucket


def test_cfn_tags_load(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("Resources:\n  A:\n    Type: X\n    Properties:\n      V: !GetAtt B.Arn\n      W: !Sub '${AWS::Region}'\n")
    doc = load_template(path)
    assert doc["Resources"]["A"]["Properties"] == {"V": {"Fn::GetAtt": ["B", "Arn"]}, "W": {"Fn::Sub": "${AWS::Region}"}}
    path.write_text("Nope: 1\n")
    with pytest.raises(TemplateError, match="no Resources"):
        load_template(path)


async def test_environment_assembly(start_gateway):
    gateway = await start_gateway(env_vars={"MessageFunction": {"EXTRA": "only-for-message"}})
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        await ws.send(json.dumps({"action": "inspect"}))
        env = json.loads(await asyncio.wait_for(ws.recv(), 5))["env"]
    assert env == {
        "MANAGEMENT_API_ENDPOINT": f"http://127.0.0.1:{gateway.port}/test",
        "WEBSOCKET_URL": f"ws://127.0.0.1:{gateway.port}",  # ApiEndpoint has no stage, as in AWS
        "HTTP_URL": f"http://127.0.0.1:{gateway.port}",
        "FROM_GLOBALS": "globals",
        "SECRET_PARAM": "s3cr3t-param",
        "AWS_REGION": "us-east-1",
        "AWS_SAM_LOCAL": "true",
        "EXTRA": "only-for-message",
    }
    assert gateway.function_env["HttpFunction"]["FROM_GLOBALS"] == "overridden-by-function"
    assert any("FROM_GLOBALS differs between functions" in w for w in gateway.warnings)
    assert not any("AWS_LAMBDA_FUNCTION_NAME" in w for w in gateway.warnings)


async def test_stop_restores_the_process(monkeypatch, fixture_template):
    monkeypatch.setenv("FROM_GLOBALS", "before")
    monkeypatch.delenv("SECRET_PARAM", raising=False)
    modules_before = set(sys.modules)
    async with LocalGateway(fixture_template, port=0, parameter_overrides={"Secret": "x"}) as gateway:
        assert os.environ["SECRET_PARAM"] == "x"
        with pytest.raises(RuntimeError, match="another LocalGateway"):
            await LocalGateway(fixture_template, port=0, parameter_overrides={"Secret": "x"}).start()
        assert gateway.port
    assert os.environ["FROM_GLOBALS"] == "before"
    assert "SECRET_PARAM" not in os.environ
    assert not [m for m in set(sys.modules) - modules_before if m.startswith("_lambda_") or m == "recorder"]


async def test_handler_import_errors_are_precise(tmp_path):
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("raise ImportError('no such thing')\n")
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: fn/, Handler: app.handler}\n"
    )
    with pytest.raises(HandlerLoadError, match=r"Fn: importing .*app.py failed: ImportError: no such thing"):
        await LocalGateway(tmp_path / "template.yaml", port=0).start()
    (tmp_path / "fn" / "app.py").write_text("x = 1\n")
    with pytest.raises(HandlerLoadError, match="has no callable 'handler'"):
        await LocalGateway(tmp_path / "template.yaml", port=0).start()
    # a failed start leaves nothing running: the next one may start
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return {'statusCode': 204}\n")
    async with LocalGateway(tmp_path / "template.yaml", port=0) as gateway:
        assert gateway.stack.websocket_api is None


def test_cli_helpers():
    from parley_local.__main__ import mask_uri, parley_profile, parse_overrides

    assert parse_overrides(["StageName=dev Other=a=b", "ParameterKey=LogLevel,ParameterValue=DEBUG"]) == {
        "StageName": "dev",
        "Other": "a=b",
        "LogLevel": "DEBUG",
    }
    with pytest.raises(SystemExit):
        parse_overrides(["novalue"])
    assert mask_uri("mongodb+srv://user:p%40ss@cluster.example/db") == "mongodb+srv://user:***@cluster.example/db"
    env_vars, overrides, database = parley_profile({})
    assert env_vars["Parameters"]["MONGODB_URI"] == "mongomock://localhost" and "mongomock" in database
    assert len(env_vars["Parameters"]["JWT_SECRET"]) >= 48
    assert parley_profile({})[0]["Parameters"]["JWT_SECRET"] != env_vars["Parameters"]["JWT_SECRET"]
    env_vars, _, database = parley_profile({"MONGODB_URI": "mongodb://u:secret@h:27017", "JWT_SECRET": "k" * 40})
    assert env_vars["Parameters"]["JWT_SECRET"] == "k" * 40
    assert "secret" not in database and "mongodb://u:***@h:27017" in database
    assert "MongoDbUri" in overrides
