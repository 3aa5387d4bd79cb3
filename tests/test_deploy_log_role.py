"""The ApiGatewayLogRoleCheck custom resource's handler (functions/deploy/log_role.py), issue 19.

API Gateway is a real botocore client whose answers come from botocore's Stubber (a call the test did not
expect fails the test's handler, as a real AccessDenied would); CloudFormation's pre-signed ResponseURL is a real
local HTTP server, and every assertion is on what the handler PUT there.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.stub import Stubber

from tests.support import ROOT

STACK_ROLE = "arn:aws:iam::123456789012:role/parley-ApiGatewayLogRole-ABC"
OTHER_ROLE = "arn:aws:iam::123456789012:role/someone-elses-apigw-logs"


def _load():
    spec = importlib.util.spec_from_file_location("deploy_log_role", ROOT / "functions/deploy/log_role.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


log_role = _load()


@pytest.fixture
def cloudformation():
    """A local stand-in for the pre-signed S3 URL: records each PUT (path, headers, JSON body) and answers 200."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/cfn-response/abc?X-Amz-Signature=sig"
    yield url, received
    server.shutdown()
    server.server_close()


@pytest.fixture
def apigateway(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # a session of its own: boto3's default one would keep these credentials for every later test in the process
    client = boto3.session.Session().client("apigateway", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber


class Context:
    def __init__(self, remaining_ms: int = 60_000):
        self.deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def _event(url, request_type="Create", **extra):
    event = {
        "RequestType": request_type, "ResponseURL": url, "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/parley/1",
        "RequestId": "req-1", "LogicalResourceId": "ApiGatewayLogRoleCheck", "ResourceType": "Custom::ApiGatewayAccountLogRole",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f", "RoleArn": STACK_ROLE},
    }
    event.update(extra)
    return event


def _only_answer(received):
    assert len(received) == 1, received  # exactly one answer per request
    return received[0]


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_a_new_account_gets_the_stacks_role(cloudformation, apigateway, request_type):
    url, received = cloudformation
    client, stubber = apigateway
    stubber.add_response("get_account", {"throttleSettings": {"burstLimit": 5000, "rateLimit": 10000.0}})
    stubber.add_response("update_account", {"cloudwatchRoleArn": STACK_ROLE},
                         {"patchOperations": [{"op": "replace", "path": "/cloudwatchRoleArn", "value": STACK_ROLE}]})
    extra = {"PhysicalResourceId": log_role.PHYSICAL_ID} if request_type == "Update" else {}
    log_role.handler(_event(url, request_type, **extra), Context(), client=client)
    stubber.assert_no_pending_responses()  # the UpdateAccount call was made, with exactly those parameters
    answer = _only_answer(received)
    assert answer["path"] == "/cfn-response/abc?X-Amz-Signature=sig"
    assert answer["headers"].get("Content-Type") == ""  # the pre-signed URL was signed without a content type
    assert answer["body"] == {
        "Status": "SUCCESS", "Reason": "set", "PhysicalResourceId": log_role.PHYSICAL_ID,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/parley/1", "RequestId": "req-1",
        "LogicalResourceId": "ApiGatewayLogRoleCheck", "Data": {"RoleArn": STACK_ROLE, "Changed": "true"},
    }


def test_an_account_with_a_role_keeps_it(cloudformation, apigateway):
    url, received = cloudformation
    client, stubber = apigateway
    stubber.add_response("get_account", {"cloudwatchRoleArn": OTHER_ROLE})
    # no UpdateAccount is stubbed: calling it would raise in the handler and answer FAILED
    log_role.handler(_event(url), Context(), client=client)
    stubber.assert_no_pending_responses()
    body = _only_answer(received)["body"]
    assert body["Status"] == "SUCCESS" and body["Data"] == {"RoleArn": OTHER_ROLE, "Changed": "false"}


def test_delete_changes_nothing_and_echoes_the_physical_id(cloudformation, apigateway):
    url, received = cloudformation
    client, _ = apigateway  # nothing stubbed: any API Gateway call would fail the answer
    log_role.handler(_event(url, "Delete", PhysicalResourceId="the-id-cloudformation-holds"), Context(), client=client)
    body = _only_answer(received)["body"]
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == "the-id-cloudformation-holds"


def test_an_api_error_answers_failed_with_the_reason(cloudformation, apigateway):
    url, received = cloudformation
    client, stubber = apigateway
    stubber.add_client_error("get_account", "AccessDeniedException", "not allowed to GET /account", 403)
    log_role.handler(_event(url), Context(), client=client)
    body = _only_answer(received)["body"]
    assert body["Status"] == "FAILED" and "AccessDeniedException" in body["Reason"]
    assert body["PhysicalResourceId"] == log_role.PHYSICAL_ID and body["RequestId"] == "req-1"


def test_a_crash_still_answers_failed(cloudformation, apigateway):
    url, received = cloudformation
    client, _ = apigateway
    event = _event(url)
    del event["ResourceProperties"]["RoleArn"]  # a template bug: the handler raises KeyError
    log_role.handler(event, Context(), client=client)
    body = _only_answer(received)["body"]
    assert body["Status"] == "FAILED" and "KeyError" in body["Reason"] and "RoleArn" in body["Reason"]


def test_an_unknown_request_type_answers_failed(cloudformation, apigateway):
    url, received = cloudformation
    log_role.handler(_event(url, "Replace"), Context(), client=apigateway[0])
    assert _only_answer(received)["body"]["Status"] == "FAILED"


def test_a_hanging_api_answers_failed_before_the_deadline_and_only_once(cloudformation):
    url, received = cloudformation

    class Hanging:
        def get_account(self):
            time.sleep(1.5)  # past the deadline the handler was given (0.5 s before its margin)
            return {}

        def update_account(self, **_):
            return {}

    started = time.monotonic()
    log_role.handler(_event(url), Context(remaining_ms=int((log_role.DEADLINE_MARGIN_S + 0.5) * 1000)), client=Hanging())
    time.sleep(0.2)  # a second answer, if any, would have arrived by now
    body = _only_answer(received)["body"]
    assert body["Status"] == "FAILED" and "timed out" in body["Reason"]
    assert time.monotonic() - started < 3


def test_the_handler_logs_no_url_signature(cloudformation, apigateway, caplog):
    """The pre-signed URL is a credential for this one answer: it is never logged."""
    url, _ = cloudformation
    client, stubber = apigateway
    stubber.add_response("get_account", {"cloudwatchRoleArn": OTHER_ROLE})
    with caplog.at_level("DEBUG"):
        log_role.handler(_event(url), Context(), client=client)
    assert "X-Amz-Signature" not in caplog.text and "cfn-response" not in caplog.text
