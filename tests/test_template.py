"""template.yaml is what the tests run: every route has a handler, permissions and secrets are scoped."""

from __future__ import annotations

import re

from tests.support import function_path, load_template

ROUTES = {"$connect", "$disconnect", "$default", "sendMessage", "typing", "join", "leave", "history", "ping",
          "createRoom", "addMember", "removeMember", "openDirect", "markRead", "rooms", "block", "unblock",
          "editMessage", "deleteMessage", "react", "unreact", "sync"}


def _resources(template, type_):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def _integration_function(template, route):
    target = route["Properties"]["Target"]["Fn::Sub"]
    integration_id = re.fullmatch(r"integrations/\$\{(\w+)\}", target).group(1)
    uri = template["Resources"][integration_id]["Properties"]["IntegrationUri"]["Fn::Sub"]
    return re.search(r"\$\{(\w+)\.Arn\}", uri).group(1)


def test_every_route_has_a_handler_that_exists(template):
    routes = _resources(template, "AWS::ApiGatewayV2::Route")
    keys = {r["Properties"]["RouteKey"] for r in routes.values()}
    assert keys == ROUTES
    for route in routes.values():
        function = _integration_function(template, route)
        assert function_path(template, function).is_file(), function


def test_message_routes_are_the_actions_the_message_function_handles(template):
    from parley.chat.frames import ACTIONS

    custom = {r["Properties"]["RouteKey"] for r in _resources(template, "AWS::ApiGatewayV2::Route").values()}
    assert custom - {"$connect", "$disconnect", "$default"} == set(ACTIONS)


def test_connect_is_guarded_by_the_request_authorizer_on_the_token_query(template):
    routes = _resources(template, "AWS::ApiGatewayV2::Route")
    connect = next(r for r in routes.values() if r["Properties"]["RouteKey"] == "$connect")
    assert connect["Properties"]["AuthorizationType"] == "CUSTOM"
    authorizer = template["Resources"][connect["Properties"]["AuthorizerId"]["Ref"]]["Properties"]
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    api = _resources(template, "AWS::ApiGatewayV2::Api")
    (ws,) = api.values()
    assert ws["Properties"]["RouteSelectionExpression"] == "$request.body.action"
    (stage,) = _resources(template, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["AutoDeploy"] is True
    assert stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0


def _manages_connections(template) -> dict[str, set[str]]:
    """Which @connections methods each function's code calls (the deploy rehearsal's CODE_CALLS), by logical id."""
    from parley_local.rehearsal import CODE_CALLS

    functions = _resources(template, "AWS::Serverless::Function")
    calls = {name: CODE_CALLS.get(f'{fn["Properties"]["CodeUri"].strip("/")}/{fn["Properties"]["Handler"]}')
             for name, fn in functions.items()}
    return {name: set(methods) for name, methods in calls.items() if methods}


def test_only_these_functions_may_manage_connections_with_only_these_methods_on_this_api(template):
    functions = _resources(template, "AWS::Serverless::Function")
    granted: dict[str, set[str]] = {}
    for name, fn in functions.items():
        for policy in fn["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if statement["Action"] == "execute-api:ManageConnections":
                    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                    for resource in resources:
                        arn = resource["Fn::Sub"]
                        assert arn.startswith("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                                              "${WebSocketApi}/${StageName}/"), arn
                        method, _, path = arn.rsplit("/", 3)[-3:]
                        assert path == "*" and arn.endswith(f"/{method}/@connections/*"), arn
                        granted.setdefault(name, set()).add(method)
    # no more than the code calls (the deploy rehearsal checks that it is no less)
    assert granted == _manages_connections(template)
    assert set(granted) == {"MessageFunction", "DisconnectFunction", "FanoutFunction", "AuthFunction", "ConnectFunction"}


def test_only_message_and_disconnect_may_invoke_the_fanout_function_and_only_it(template):
    functions = _resources(template, "AWS::Serverless::Function")
    invoking = {}
    for name, fn in functions.items():
        for policy in fn["Properties"].get("Policies", []):
            statements = policy.get("Statement", []) if isinstance(policy, dict) else []
            for statement in statements:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(a.startswith("lambda:") for a in actions):
                    invoking.setdefault(name, []).append((actions, statement["Resource"]))
            assert not isinstance(policy, str) or "Lambda" not in policy, (name, policy)  # no managed invoke policies
    assert set(invoking) == {"MessageFunction", "DisconnectFunction"}
    for grants in invoking.values():
        assert grants == [(["lambda:InvokeFunction"], {"Fn::GetAtt": ["FanoutFunction", "Arn"]})]
    for name in invoking:
        env = functions[name]["Properties"]["Environment"]["Variables"]
        assert env["FANOUT_FUNCTION"] == {"Ref": "FanoutFunction"}
        assert int(env["FANOUT_SLICE"]) >= 1


def test_fanout_function_lives_with_the_message_code_and_is_sized_like_message(template):
    fanout = template["Resources"]["FanoutFunction"]["Properties"]
    assert fanout["CodeUri"] == "functions/message/" and fanout["Handler"] == "fanout.handler"
    message = template["Resources"]["MessageFunction"]["Properties"]
    assert fanout["MemorySize"] == message["MemorySize"] >= 1536 and fanout["Timeout"] <= 29
    assert function_path(template, "FanoutFunction").is_file()
    assert "FANOUT_FUNCTION" not in fanout["Environment"]["Variables"]  # a slice never fans out again
    from parley.adapters.fanout import FANOUT_READ_TIMEOUT_S

    assert FANOUT_READ_TIMEOUT_S > fanout["Timeout"]


def test_no_secret_in_parameters_and_the_jwt_key_is_generated(template):
    secret = template["Resources"]["JwtSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret" and "GenerateSecretString" in secret["Properties"]
    assert template["Parameters"]["MongoDbUri"]["NoEcho"] is True
    for name, parameter in template["Parameters"].items():
        if name.endswith("SecretArn"):  # names a secret, holds none: only an ARN gets through
            assert parameter["AllowedPattern"].startswith("^$|^arn:aws[a-z-]*:secretsmanager:"), name
            continue
        assert "secret" not in name.lower() and "jwt" not in name.lower()


def test_lambda_permissions_are_scoped_to_this_api(template):
    for perm in _resources(template, "AWS::Lambda::Permission").values():
        assert "${WebSocketApi}" in perm["Properties"]["SourceArn"]["Fn::Sub"]


def test_runtime_and_outputs(template):
    assert template["Globals"]["Function"]["Runtime"] in {"python3.12", "python3.13"}
    assert {"WebSocketUrl", "HttpApiUrl"} <= set(template["Outputs"])
    assert template["Outputs"]["WebSocketUrl"]["Value"]["Fn::Sub"].startswith("wss://")


def test_websocket_functions_do_not_import_fastapi(template):
    for name in ("ConnectFunction", "DisconnectFunction", "MessageFunction", "FanoutFunction", "AuthorizerFunction"):
        source = function_path(template, name).read_text()
        assert "fastapi" not in source and "mangum" not in source, name


def test_loader_reads_the_file_on_disk():
    assert load_template()["Resources"].keys()


def test_signup_and_login_have_tighter_throttles_than_the_rest(template):
    api = template["Resources"]["HttpApi"]["Properties"]
    default = api["DefaultRouteSettings"]["ThrottlingRateLimit"]
    events = template["Resources"]["AuthFunction"]["Properties"]["Events"].values()
    keys = {f'{e["Properties"]["Method"]} {e["Properties"]["Path"]}' for e in events}
    for route in ("POST /auth/signup", "POST /auth/login"):
        assert route in keys  # a route of its own, so the setting applies
        assert api["RouteSettings"][route]["ThrottlingRateLimit"] < default


def test_sync_overlaps_by_more_than_any_change_can_be_stored_late(template):
    """sync re-reads SYNC_OVERLAP back (docs/protocol.md, "Delivery and order"): only MessageFunction changes
    messages, and an invocation stores what it stamped before its Timeout ends it."""
    from parley.model import SYNC_OVERLAP

    message = template["Resources"]["MessageFunction"]["Properties"]
    assert SYNC_OVERLAP.total_seconds() >= message["Timeout"] + 1
