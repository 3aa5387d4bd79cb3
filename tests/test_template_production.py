"""Production settings of template.yaml (issue 12): the MongoDB secret, logs, alarms, tracing, concurrency.

The template is read as written (tests.support.load_template) and, where conditions and parameters decide,
resolved by the local gateway's own CloudFormation resolver (parley_local.template), as `make run` does.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stdout

import boto3
import pytest
from moto import mock_aws

from parley_local.cloudformation import Resolver
from parley_local.template import read_stack
from tests.support import ROOT, function_path, load_function, load_template

FUNCTIONS = ["ConnectFunction", "DisconnectFunction", "MessageFunction", "FanoutFunction", "AuthorizerFunction", "AuthFunction"]
SECRET_ARN = {"Fn::If": ["CreateMongoDbSecret", {"Ref": "MongoDbSecret"}, {"Ref": "MongoDbSecretArn"}]}


def _props(template, logical_id):
    return template["Resources"][logical_id]["Properties"]


def _opens_mongodb(template, logical_id) -> bool:
    """Read from the code, not from the template: the handler opens the database itself or through ChatRuntime."""
    source = function_path(template, logical_id).read_text()
    return "mongodb_uri(" in source or "mongodb_database(" in source or "ChatRuntime" in source


def _secret_policies(props):
    return [p["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"] for p in props.get("Policies", [])
            if isinstance(p, dict) and "AWSSecretsManagerGetSecretValuePolicy" in p]


# ---------------------------------------------------------------- 2. the MongoDB URI in Secrets Manager
def test_no_function_has_the_mongodb_uri_in_its_environment(template):
    assert "MONGODB_URI" not in template["Globals"]["Function"]["Environment"]["Variables"]
    assert "MONGODB_URI_SECRET_ARN" not in template["Globals"]["Function"]["Environment"]["Variables"]
    for name in FUNCTIONS:
        variables = (_props(template, name).get("Environment") or {}).get("Variables") or {}
        assert "MONGODB_URI" not in variables, name


def test_only_the_functions_that_open_mongodb_get_the_secret_and_may_read_it(template):
    needing = {name for name in FUNCTIONS if _opens_mongodb(template, name)}
    assert needing == {"ConnectFunction", "DisconnectFunction", "MessageFunction", "AuthorizerFunction", "AuthFunction"}
    for name in FUNCTIONS:
        props = _props(template, name)
        variables = (props.get("Environment") or {}).get("Variables") or {}
        if name in needing:
            assert variables["MONGODB_URI_SECRET_ARN"] == SECRET_ARN, name
            assert SECRET_ARN in _secret_policies(props), name
        else:  # FanoutFunction: neither the ARN nor the permission
            assert "MONGODB_URI_SECRET_ARN" not in variables and SECRET_ARN not in _secret_policies(props), name


def test_the_stack_keeps_the_uri_in_a_secret_unless_one_is_given(template):
    secret = template["Resources"]["MongoDbSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret" and secret["Condition"] == "CreateMongoDbSecret"
    assert secret["Properties"]["SecretString"] == {"Ref": "MongoDbUri"}
    assert template["Parameters"]["MongoDbUri"]["NoEcho"] is True
    assert template["Conditions"]["CreateMongoDbSecret"] == {"Fn::Equals": [{"Ref": "MongoDbSecretArn"}, ""]}
    (assertion,) = template["Rules"]["MongoDbGiven"]["Assertions"]  # one of the two must be given
    assert assertion["Assert"] == {"Fn::Or": [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "MongoDbUri"}, ""]}]},
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "MongoDbSecretArn"}, ""]}]},
    ]}
    pattern = re.compile(template["Parameters"]["MongoDbSecretArn"]["AllowedPattern"])
    assert pattern.match("") and pattern.match("arn:aws:secretsmanager:eu-west-1:123456789012:secret:parley-db-AbCdEf")
    assert not pattern.match("mongodb+srv://u:p@host/")  # a URI pasted into the wrong parameter is refused


@pytest.mark.parametrize("given", ["", "arn:aws:secretsmanager:us-east-1:123456789012:secret:mine-AbCdEf"])
def test_resolved_environments_name_the_right_secret(given):
    overrides = {"MongoDbUri": "mongodb://u:p@h/"} if not given else {"MongoDbSecretArn": given}
    stack = read_stack(ROOT / "template.yaml", overrides)
    arns = {lid: spec.environment.get("MONGODB_URI_SECRET_ARN") for lid, spec in stack.functions.items()}
    assert arns.pop("FanoutFunction") is None
    (arn,) = set(arns.values())
    assert arn == given if given else ":secret:MongoDbSecret-" in arn
    for spec in stack.functions.values():
        assert "mongodb://u:p@h/" not in json.dumps(spec.environment)


def test_handlers_read_both_secrets_at_import_and_the_fanout_needs_none(template, monkeypatch):
    for key in ("MONGODB_URI", "JWT_SECRET", "JWT_SECRET_ARN", "MONGODB_URI_SECRET_ARN", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PARLEY_ENV", "aws")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MANAGEMENT_API_ENDPOINT", "https://abc.execute-api.us-east-1.amazonaws.com/prod")
    _, fanout = load_function(template, "FanoutFunction")  # no MongoDB variable at all: still starts
    assert fanout.settings.mongodb_uri == "" and fanout.settings.mongodb_uri_secret_arn is None
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        monkeypatch.setenv("JWT_SECRET_ARN", sm.create_secret(Name="jwt", SecretString="j" * 64)["ARN"])
        uri = "mongodb://parley:pw-in-secret@127.0.0.1:27999/"
        monkeypatch.setenv("MONGODB_URI_SECRET_ARN", sm.create_secret(Name="db", SecretString=uri)["ARN"])
        _, authorizer = load_function(template, "AuthorizerFunction")
    from parley.adapters.mongo import _clients

    from parley.adapters.mongo import RenewableDatabase

    assert uri in _clients  # the authorizer opened the URI the secret holds (a port of its own: no one else did)
    assert isinstance(authorizer.users._db, RenewableDatabase)  # re-read when the secret rotates
    assert authorizer.issuer.secret == "j" * 64


# ---------------------------------------------------------------- 3. logs
def test_every_function_has_a_log_group_kept_log_retention_days(template):
    groups = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Logs::LogGroup"}
    named = {g["Properties"]["LogGroupName"]["Fn::Sub"]: g for g in groups.values()}
    functions = {k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions == set(FUNCTIONS)
    for name in functions:
        assert f"/aws/lambda/${{{name}}}" in named, name
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    allowed = template["Parameters"]["LogRetentionDays"]["AllowedValues"]
    assert template["Parameters"]["LogRetentionDays"]["Default"] in allowed and 3653 in allowed and 0 not in allowed


# Every $context variable an access log may use, each checked against the API Gateway documentation to carry
# no part of the query string (which holds the token on $connect), no path, no header but User-Agent, no body.
WS_SAFE = {
    "requestId", "requestTime", "requestTimeEpoch", "identity.sourceIp", "identity.userAgent", "eventType",
    "routeKey", "connectionId", "messageId", "status", "integrationLatency", "authorize.status",
    "authorizer.error", "authorizer.principalId", "error.message",
}
HTTP_SAFE = {
    "requestId", "requestTime", "requestTimeEpoch", "identity.sourceIp", "identity.userAgent", "httpMethod",
    "routeKey", "protocol", "status", "responseLength", "responseLatency", "integrationLatency",
    "error.message", "integrationErrorMessage",
}
NEVER = ("query", "path", "uri", "url", "header", "body", "request.", "domain", "authorizer.token", "claims")


def _access_log(settings):
    fmt = json.loads(settings["Format"])  # JSON, one object a line
    variables = set()
    for key, value in fmt.items():
        match = re.fullmatch(r"\$context\.([A-Za-z.]+)", value)
        assert match, f"{key}: {value!r} is not exactly one $context variable"
        variables.add(match.group(1))
    return variables


@pytest.mark.parametrize(("resource", "safe"), [("WebSocketStage", WS_SAFE), ("HttpApi", HTTP_SAFE)])
def test_access_logs_are_json_and_never_carry_the_query_string(template, resource, safe):
    settings = _props(template, resource)["AccessLogSettings"]
    group = settings["DestinationArn"]["Fn::GetAtt"]
    group = group.split(".")[0] if isinstance(group, str) else group[0]
    assert template["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
    variables = _access_log(settings)
    assert {"requestId", "status", "identity.sourceIp", "routeKey"} <= variables
    assert variables <= safe, sorted(variables - safe)
    for variable in variables:
        assert not any(word in variable.lower() for word in NEVER), variable


def test_the_websocket_stage_waits_for_the_account_log_role_when_the_stack_makes_or_checks_it(template):
    assert template["Resources"]["WebSocketStage"]["DependsOn"] == "ApiGatewayLogRoleReady"
    ready = template["Resources"]["ApiGatewayLogRoleReady"]["Metadata"]["LogRole"]
    assert ready == {"Fn::If": ["CreateApiGatewayLogRole", {"Ref": "ApiGatewayAccount"},
                                {"Fn::If": ["AutoApiGatewayLogRole", {"Ref": "ApiGatewayLogRoleCheck"}, "none"]}]}
    account, role = template["Resources"]["ApiGatewayAccount"], template["Resources"]["ApiGatewayLogRole"]
    assert account["Condition"] == "CreateApiGatewayLogRole" and role["Condition"] == "MakeApiGatewayLogRole"
    assert account["DeletionPolicy"] == role["DeletionPolicy"] == "Retain"  # the account's, not the stack's
    # auto (the default) works on a new account and keeps an account's own role (tests/test_template_account.py)
    assert template["Parameters"]["ApiGatewayAccountLogRole"]["Default"] == "auto"
    for mode, (made, set_always, checked) in {"auto": (True, False, True), "create": (True, True, False),
                                              "existing": (False, False, False)}.items():
        r = Resolver(template, {"MongoDbUri": "mongodb://h/", "ApiGatewayAccountLogRole": mode})
        assert (r.condition("MakeApiGatewayLogRole"), r.condition("CreateApiGatewayLogRole"),
                r.condition("AutoApiGatewayLogRole")) == (made, set_always, checked), mode


# ---------------------------------------------------------------- 4. alarms, dashboard, tracing
def _alarms(template):
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def _metric_names(alarm, resolve=lambda x: x):
    """(namespace, name, dimensions) of each metric the alarm watches; the dimensions sorted by name (CloudWatch
    matches them as a set), their values resolved by ``resolve`` (a Ref of a function is its name)."""
    def key(namespace, name, dimensions):
        return namespace, name, json.dumps(sorted(resolve(dimensions or []), key=lambda d: d["Name"]), sort_keys=True)

    if "MetricName" in alarm:
        return {key(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions"))}
    return {
        key(m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"],
            m["MetricStat"]["Metric"].get("Dimensions"))
        for m in alarm["Metrics"] if "MetricStat" in m
    }


def test_every_function_has_an_errors_and_a_throttles_alarm(template):
    watched = {}
    for alarm in _alarms(template).values():
        if alarm.get("Namespace") == "AWS/Lambda":
            (dimension,) = alarm["Dimensions"]
            watched.setdefault(alarm["MetricName"], set()).add(dimension["Value"]["Ref"])
    assert watched == {"Errors": set(FUNCTIONS), "Throttles": set(FUNCTIONS)}
    assert "AuthorizerFailuresAlarm" in _alarms(template)  # the authorizer's errors: $connect refused with 500


def _emf(emit) -> list[dict]:
    out = io.StringIO()
    with redirect_stdout(out):
        emit()
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def _emitted(blob: dict) -> set:
    meta = blob["_aws"]["CloudWatchMetrics"][0]
    (dims,) = meta["Dimensions"]
    dimensions = json.dumps(sorted(({"Name": d, "Value": blob[d]} for d in dims), key=lambda d: d["Name"]), sort_keys=True)
    return {(meta["Namespace"], m["Name"], dimensions) for m in meta["Metrics"]}


CATCH_ALLS = {"ConnectFunction": "functions/connect/app.py", "DisconnectFunction": "functions/disconnect/app.py",
              "MessageFunction": "functions/message/app.py", "AuthFunction": "functions/auth/app.py"}


def test_the_code_alarms_watch_exactly_what_the_code_emits(template, monkeypatch):
    from parley.errors import StoreAuthFailed, StoreOverQuota, StoreUnavailable
    from parley.observability import count_if_database_down, count_internal_error, counter, make_metrics
    from parley_local.kit import LambdaContext

    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    metrics = make_metrics(namespace)
    add = counter(metrics)
    resolver = Resolver(template, {"MongoDbUri": "mongodb://h/"})

    def chat_metrics():
        for name in ("FanoutSlices", "FanoutSlicesPostedHere", "DeliveryFailures"):  # as SlicedBroadcaster/service do
            add(name, 1)
        metrics.flush_metrics()

    emitted = set().union(*map(_emitted, _emf(chat_metrics)))
    errors = set()  # what the catch-alls emit: each function's InternalErrors, the database's own metrics
    for logical_id in CATCH_ALLS:  # on AWS, context.function_name is what !Ref of the function gives
        context = LambdaContext(resolver.function_name(logical_id))
        for exc in (RuntimeError("a bug"), StoreUnavailable("x"), StoreAuthFailed("x"), StoreOverQuota("x")):
            errors |= set().union(*map(_emitted, _emf(lambda: count_internal_error(exc, namespace, context))))
    emitted |= errors
    assert _emf(lambda: count_if_database_down(ValueError("not the database"), namespace)) == []
    watched = set()
    for name, alarm in _alarms(template).items():
        if alarm.get("Namespace", namespace) == namespace and any(k[0] == namespace for k in _metric_names(alarm)):
            assert _metric_names(alarm, resolver.resolve) <= emitted, (name, _metric_names(alarm, resolver.resolve), emitted)
            watched |= _metric_names(alarm, resolver.resolve)
    assert errors <= watched, errors - watched  # every error the catch-alls count has an alarm
    assert len({k for k in errors if k[1] == "InternalErrors"}) == len(CATCH_ALLS)  # one per function
    # and the code emits them where the alarms say
    assert '"FanoutSlicesPostedHere"' in (ROOT / "shared/parley/adapters/fanout.py").read_text()
    assert '"DeliveryFailures"' in (ROOT / "shared/parley/chat/service.py").read_text()
    for path in CATCH_ALLS.values():
        assert "count_internal_error(exc, settings.metrics_namespace, " in (ROOT / path).read_text(), path


def test_the_gateways_own_errors_are_alarmed(template):
    """What never reaches a catch-all (an invoke that failed or timed out, a crash) still reaches the user as a
    5xx or an integration error: those are alarmed on the APIs themselves (ApiId: the API's own metrics)."""
    alarms = _alarms(template)
    assert _metric_names(alarms["HttpApi5xxAlarm"]) == {
        ("AWS/ApiGateway", "5xx", json.dumps([{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}], sort_keys=True))}
    assert _metric_names(alarms["WebSocketIntegrationErrorsAlarm"]) == {
        ("AWS/ApiGateway", "IntegrationError", json.dumps([{"Name": "ApiId", "Value": {"Ref": "WebSocketApi"}}], sort_keys=True))}
    assert template["Resources"]["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"
    assert template["Resources"]["WebSocketApi"]["Properties"]["ProtocolType"] == "WEBSOCKET"


def test_an_unreachable_database_is_counted_by_the_handlers(template, management_api, local_env, monkeypatch, capsys):
    from tests.support import Stack, real_event

    monkeypatch.setenv("PARLEY_ENV", "aws")
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:1/")  # nothing listens there
    stack = Stack(template, management_api, migrate=False)
    capsys.readouterr()
    assert stack.invoke("ConnectFunction", real_event("connect.json")) == {"statusCode": 500}
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith('{"_aws"')]
    assert any(line.get("DatabaseUnavailable") == [1.0] or line.get("DatabaseUnavailable") == 1.0 for line in lines), lines


def test_alarms_notify_the_topic_the_parameters_choose(template):
    expected = [{"Fn::If": ["UseOwnAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}]
    for name, alarm in _alarms(template).items():
        assert alarm["AlarmActions"] == expected, name
        assert alarm["TreatMissingData"] == "notBreaching", name
    none = Resolver(load_template(), {"MongoDbUri": "mongodb://h/"})
    assert none.condition("CreateAlarmTopic") and not none.condition("HasAlarmEmail")
    mail = Resolver(load_template(), {"MongoDbUri": "mongodb://h/", "AlarmEmail": "ops@example.com",
                                      "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:ops"})
    assert mail.condition("HasAlarmEmail") and not mail.condition("CreateAlarmTopic")
    assert mail.resolve(expected) == ["arn:aws:sns:us-east-1:123456789012:ops"]
    assert template["Resources"]["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert template["Resources"]["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"


def test_the_dashboard_is_valid_json_over_this_stack(template):
    resolver = Resolver(template, {"MongoDbUri": "mongodb://h/"})
    body = json.loads(resolver.resolve(_props(template, "Dashboard")["DashboardBody"]))
    text = json.dumps(body)
    for name in FUNCTIONS:
        assert resolver.function_name(name) in text, name
    alarms = next(w for w in body["widgets"] if w["type"] == "alarm")["properties"]["alarms"]
    assert len(alarms) >= 10 and all(":local:" in a for a in alarms)  # GetAtt of alarms of this template
    for metric in ("DatabaseUnavailable", "DeliveryFailures", "FanoutSlicesPostedHere", "ConnectCount",
                   "InternalErrors", "DatabaseAuthFailures", "DatabaseOverQuota"):
        assert metric in text
    for name in ("ConnectInternalErrorsAlarm", "DisconnectInternalErrorsAlarm", "MessageInternalErrorsAlarm",
                 "AuthInternalErrorsAlarm", "DatabaseAuthFailuresAlarm", "DatabaseOverQuotaAlarm", "HttpApi5xxAlarm",
                 "WebSocketIntegrationErrorsAlarm", "DatabaseUnavailableAlarm"):  # what users see, on the dashboard
        assert resolver.resolve({"Fn::GetAtt": [name, "Arn"]}) in alarms, name


def test_tracing_is_a_parameter_on_the_functions_and_off_by_default(template):
    glob = template["Globals"]["Function"]
    assert glob["Tracing"] == {"Ref": "TracingMode"}  # why a Ref: tests/test_template_packaging.py (X-Ray policy)
    assert template["Conditions"]["TracingEnabled"] == {"Fn::Equals": [{"Ref": "TracingMode"}, "Active"]}
    assert glob["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingEnabled", "false", "true"]}
    assert template["Parameters"]["TracingMode"]["Default"] == "Disabled"
    from parley.config import Settings

    aws = {"PARLEY_ENV": "aws", "MONGODB_URI": "mongodb://h/"}
    assert not Settings.from_env(aws).tracing
    assert not Settings.from_env({**aws, "POWERTOOLS_TRACE_DISABLED": "true"}).tracing
    assert Settings.from_env({**aws, "POWERTOOLS_TRACE_DISABLED": "false"}).tracing
    from parley_local.__main__ import parley_profile

    env_vars, _, _ = parley_profile({"POWERTOOLS_TRACE_DISABLED": "false"})  # make run: never, whatever is set
    assert env_vars["Parameters"]["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert not Settings.from_env({"PARLEY_ENV": "local", **env_vars["Parameters"]}).tracing


def _import_all_handlers(env: dict) -> str:
    paths = [str(function_path(load_template(), name)) for name in FUNCTIONS]
    probe = (
        "import importlib.util, json, sys\n"
        "calls = []\n"
        "if sys.argv[1] == 'on':\n"
        "    from aws_lambda_powertools import Tracer\n"
        "    real = Tracer.capture_lambda_handler\n"
        "    def spy(self, lambda_handler=None, **k):\n"
        "        if lambda_handler is not None:  # the decorator applied to a handler (not the partial it returns)\n"
        "            calls.append(k.get('capture_response'))\n"
        "        return real(self, lambda_handler, **k)\n"
        "        return real(self, *a, **k)\n"
        "    Tracer.capture_lambda_handler = spy\n"
        f"for i, path in enumerate({paths!r}):\n"
        "    sys.path.insert(0, path.rsplit('/', 1)[0])  # the function's directory, as Lambda's /var/task\n"
        "    spec = importlib.util.spec_from_file_location(f'fn{i}', path)\n"
        "    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(json.dumps({'xray': 'aws_xray_sdk' in sys.modules, 'calls': calls}))\n"
    )
    mode = "on" if env.get("POWERTOOLS_TRACE_DISABLED") == "false" else "off"
    out = subprocess.run([sys.executable, "-c", probe, mode], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_every_handler_is_traced_when_on_and_xray_is_not_even_imported_when_off():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "MONGODB_", "JWT_"))}
    env.update({"PARLEY_ENV": "aws", "MONGODB_URI": "mongodb://127.0.0.1:1/", "JWT_SECRET": "k" * 48,
                "AWS_DEFAULT_REGION": "us-east-1", "WEBSOCKET_URL": "wss://x.example/prod"})
    off = json.loads(_import_all_handlers({**env, "POWERTOOLS_TRACE_DISABLED": "true"}))
    assert off == {"xray": False, "calls": []}
    on = json.loads(_import_all_handlers({**env, "POWERTOOLS_TRACE_DISABLED": "false"}))
    assert on["xray"] is True
    assert on["calls"] == [False] * len(FUNCTIONS)  # one traced handler per function, never recording replies


# ---------------------------------------------------------------- 5. concurrency, 8. permission scope
def test_concurrency_parameters(template):
    reserved = {name: _props(template, name).get("ReservedConcurrentExecutions") for name in FUNCTIONS}
    assert reserved["AuthorizerFunction"] == {"Fn::If": ["ReserveAuthorizerConcurrency", {"Ref": "AuthorizerReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    assert reserved["ConnectFunction"] == {"Fn::If": ["ReserveConnectConcurrency", {"Ref": "ConnectReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    assert reserved["FanoutFunction"] == {"Fn::If": ["CapFanoutConcurrency", {"Ref": "FanoutMaxConcurrency"}, {"Ref": "AWS::NoValue"}]}
    for name in ("MessageFunction", "DisconnectFunction", "AuthFunction"):
        assert reserved[name] is None, name  # capping them would refuse users (docs/architecture.md)
    # No reservation by default: Lambda keeps 100 unreserved, so reserving 100 fails on accounts whose quota is
    # below 200 (new accounts start lower), and a reservation of 0 would throttle the function entirely.
    defaults = Resolver(template, {"MongoDbUri": "mongodb://h/"})
    assert template["Parameters"]["FanoutMaxConcurrency"]["Default"] == 0
    assert defaults.resolve({"x": reserved["FanoutFunction"]}) == {}  # 0: no reservation, not a reservation of 0
    assert defaults.resolve({"x": reserved["AuthorizerFunction"]}) == {}
    custom = Resolver(template, {"MongoDbUri": "mongodb://h/", "FanoutMaxConcurrency": "100", "AuthorizerReservedConcurrency": "20"})
    assert custom.resolve(reserved["FanoutFunction"]) == "100" and custom.resolve(reserved["AuthorizerFunction"]) == "20"


def test_api_gateway_may_invoke_the_functions_from_this_stage_only(template):
    arns = {k: v["Properties"]["SourceArn"]["Fn::Sub"] for k, v in template["Resources"].items()
            if v["Type"] == "AWS::Lambda::Permission"}
    prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/"
    assert arns["MessagePermission"] == prefix + "${StageName}/*"
    assert arns["ConnectPermission"] == prefix + "${StageName}/$connect"
    assert arns["DisconnectPermission"] == prefix + "${StageName}/$disconnect"
    assert arns["AuthorizerPermission"] == prefix + "authorizers/${WebSocketAuthorizer}"
    stage = _props(template, "WebSocketStage")["StageName"]
    assert stage == {"Ref": "StageName"}  # the stage those ARNs name is the one deployed


def test_make_lint_runs_the_serverless_rules_and_checkov():
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "--append-rules cfn_lint_serverless.rules" in lint and "checkov" in lint and "--skip-download" in lint
    assert "cfn-lint-serverless" in makefile and "checkov>=" in makefile
