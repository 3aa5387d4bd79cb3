"""Helpers for the handler tests, built from template.yaml itself so tests cannot drift from the deployment.

- ``template``: the parsed template (CloudFormation tags kept as {"Ref": ...} / {"Fn::Sub": ...}).
- ``management_api``: a real HTTP server speaking the @connections Management API, which the broadcaster
  (and boto3) call over real HTTP; it records deliveries and can answer 410 (gone), 429 (throttled) or 500 for chosen ids.
- ``stack``: every function of the template loaded from its CodeUri/Handler with a fresh local environment
  (mongomock, or the real MongoDB named by MONGODB_URI) and helpers to drive them with real-shaped events.
"""

from __future__ import annotations

import copy
import hmac
import re
import importlib.util
import json
import os
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
import contextlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


import yaml

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SECRET = "test-secret-" + "x" * 40
# Template parameters that lift the per-connection rate limits, for stacks whose tests are about delivery under
# load (a client sending as fast as it can), not about the limits (tests/test_limits.py, test_limits_e2e.py).
LOAD_TEST_LIMITS = {"RateLimitWindowSeconds": "1", "SendMessageLimit": "1000", "TypingLimit": "1000", "JoinLimit": "1000"}
# The same as the functions' environment variables, for the handler tests' `local_env`.
LOAD_TEST_LIMITS_ENV = {"RATE_LIMIT_WINDOW_SECONDS": "1", "SEND_MESSAGE_LIMIT": "1000", "TYPING_LIMIT": "1000",
                        "JOIN_LIMIT": "1000"}


# ---------------------------------------------------------------- template
class _CfnLoader(yaml.SafeLoader):
    pass


def _cfn_tag(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = ROOT / "template.yaml") -> dict:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def function_path(template: dict, logical_id: str) -> Path:
    props = template["Resources"][logical_id]["Properties"]
    module, _, _func = props["Handler"].rpartition(".")
    return ROOT / props["CodeUri"] / f"{module.replace('.', '/')}.py"


def load_function(template: dict, logical_id: str):
    """Import a function's handler module the way Lambda does: fresh, from its CodeUri, module scope run once."""
    props = template["Resources"][logical_id]["Properties"]
    _, _, func = props["Handler"].rpartition(".")
    path = function_path(template, logical_id)
    spec = importlib.util.spec_from_file_location(f"fn_{logical_id}_{uuid.uuid4().hex[:8]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, func), module


class LambdaContext:
    def __init__(self, function_name: str = "test", timeout_ms: int = 10_000):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "test"
        self._timeout_ms = timeout_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


# ---------------------------------------------------------------- a real @connections endpoint
AWS_KEY_ID, AWS_SECRET_KEY = "testing", "testing"  # what management_api checks signatures against
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z-]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def sigv4_is_valid(*, method: str, url: str, headers, body: bytes, secret: str, service: str = "execute-api") -> bool:
    """Recompute a request's SigV4 signature with botocore's signer, as API Gateway checks it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {name.lower(): value for name, value in headers.items()}
    found = _AUTHORIZATION.match(headers.get("authorization", ""))
    if not found or found["service"] != service or "x-amz-date" not in found["signed"].split(";"):
        return False
    signed = {name: headers.get(name, "") for name in found["signed"].split(";")}
    request = AWSRequest(method=method, url=url, data=body, headers=signed)
    request.context["timestamp"] = signed["x-amz-date"]
    if signed["x-amz-date"][:8] != found["day"]:
        return False
    signer = SigV4Auth(Credentials(found["key"], secret, headers.get("x-amz-security-token")), service, found["region"])
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, found["signature"])


@dataclass
class ManagementApiState:
    delivered: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    gone: set[str] = field(default_factory=set)
    throttle: dict[str, int] = field(default_factory=dict)  # id -> how many 429s before success
    broken: set[str] = field(default_factory=set)  # ids that always answer 500
    posts: int = 0
    bad_signatures: int = 0
    closed: list[str] = field(default_factory=list)  # ids a DELETE @connections/{id} asked to close
    lock: threading.Lock = field(default_factory=threading.Lock)

    def frames(self, connection_id: str, type_: str | None = None) -> list[dict]:
        with self.lock:
            frames = list(self.delivered.get(connection_id, []))
        return [f for f in frames if type_ is None or f.get("type") == type_]

    def clear(self) -> None:
        with self.lock:
            self.delivered.clear()


def handler_class(state: ManagementApiState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _reply(self, status: int, body: dict | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status >= 400:
                self.send_header("x-amzn-ErrorType", (body or {}).get("__type", "Error"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if "@connections/" not in self.path or "Authorization" not in self.headers:
                return self._reply(403, {"__type": "ForbiddenException", "message": "Forbidden"})
            url = f"http://{self.headers.get('Host', '')}{self.path}"
            if not sigv4_is_valid(method="POST", url=url, headers=self.headers, body=data, secret=AWS_SECRET_KEY):
                with state.lock:
                    state.bad_signatures += 1
                return self._reply(403, {"__type": "InvalidSignatureException"})
            connection_id = unquote(self.path.rsplit("@connections/", 1)[1])
            if len(data) > 128 * 1024:  # API Gateway's message limit: the post is refused, nothing delivered
                return self._reply(413, {"__type": "PayloadTooLargeException", "message": "Request Entity Too Large"})
            with state.lock:
                state.posts += 1
                if connection_id in state.gone:
                    return self._reply(410, {"__type": "GoneException"})
                if connection_id in state.broken:
                    return self._reply(500, {"__type": "InternalServerErrorException"})
                if state.throttle.get(connection_id, 0) > 0:
                    state.throttle[connection_id] -= 1
                    return self._reply(429, {"__type": "LimitExceededException"})
                state.delivered[connection_id].append(json.loads(data))
            self._reply(200)

        def do_DELETE(self):
            url = f"http://{self.headers.get('Host', '')}{self.path}"
            if "@connections/" not in self.path or not sigv4_is_valid(
                method="DELETE", url=url, headers=self.headers, body=b"", secret=AWS_SECRET_KEY
            ):
                return self._reply(403, {"__type": "ForbiddenException"})
            with state.lock:
                state.closed.append(unquote(self.path.rsplit("@connections/", 1)[1]))
            self.send_response(204)
            self.end_headers()

    return Handler



# ---------------------------------------------------------------- the stack
def real_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())




def new_connection_id() -> str:
    import base64

    return base64.b64encode(os.urandom(11)).decode()[:15] + "="



@dataclass
class Client:
    """One WebSocket connection as the handlers see it."""

    stack: Stack
    connection_id: str
    user_id: str
    username: str
    connected_at: int
    context: dict = field(default_factory=dict)  # more of the authorizer's context (sessionId, tokenExp)

    @property
    def authorizer(self) -> dict:
        return {"principalId": self.user_id, "userId": self.user_id, "username": self.username, **self.context}

    def send(self, frame: dict | str, route: str | None = None) -> dict:
        body = frame if isinstance(frame, str) else json.dumps(frame)
        if route is None:
            action = frame.get("action") if isinstance(frame, dict) else None
            route = action if action in self.stack.routes else "$default"
        event = copy.deepcopy(self.stack.message_template)
        rc = event["requestContext"]
        rc.update(
            routeKey=route,
            connectionId=self.connection_id,
            connectedAt=self.connected_at,
            messageId=new_connection_id(),
            requestId=new_connection_id(),
            authorizer=self.authorizer,
        )
        event["body"] = body
        return self.stack.invoke("MessageFunction", event)

    def frames(self, type_: str | None = None) -> list[dict]:
        return self.stack.api.frames(self.connection_id, type_)

    def last(self, type_: str) -> dict:
        found = self.frames(type_)
        assert found, f"{self.username} received no {type_!r} frame; got {self.frames()}"
        return found[-1]

    def disconnect(self, status: int = 1001) -> dict:
        event = real_event("lambda-go-websocket-disconnect.json")
        event["requestContext"].update(connectionId=self.connection_id, authorizer=self.authorizer)
        event["requestContext"]["disconnectStatusCode"] = status
        return self.stack.invoke("DisconnectFunction", event)


class Stack:
    def __init__(self, template: dict, api: ManagementApiState):
        self.template = template
        self.api = api
        self.handlers = {}
        self.modules = {}
        for logical_id, res in template["Resources"].items():
            if res["Type"] == "AWS::Serverless::Function":
                self.handlers[logical_id], self.modules[logical_id] = load_function(template, logical_id)
        self.routes = {
            r["Properties"]["RouteKey"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::ApiGatewayV2::Route"
        }
        self.message_template = real_event("powertools-websocket-message.json")

    def invoke(self, logical_id: str, event: dict):
        return self.handlers[logical_id](event, LambdaContext(logical_id))

    def connect(self, username: str, user_id: str | None = None, context: dict | None = None) -> Client:
        client = Client(self, new_connection_id(), user_id or f"u-{username}", username, 1731324924553, dict(context or {}))
        event = real_event("powertools-websocket-connect.json")
        event["requestContext"].update(
            connectionId=client.connection_id, authorizer=client.authorizer, connectedAt=_now_ms()
        )
        client.connected_at = event["requestContext"]["connectedAt"]
        event["queryStringParameters"] = {"token": "not-read-by-connect"}
        result = self.invoke("ConnectFunction", event)
        assert result == {"statusCode": 200}, result
        return client

    def http(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        token: str | None = None,
        query: str = "",
        authorization: str | None = None,
        source_ip: str | None = None,
    ):
        """Call the HTTP API function through Mangum with an API Gateway HTTP API (payload 2.0) event."""
        event = real_event("http-signup.json")
        if source_ip is not None:
            event["requestContext"]["http"]["sourceIp"] = source_ip
        event["rawPath"] = path
        event["rawQueryString"] = query
        event["requestContext"]["http"].update(method=method, path=path)
        event["pathParameters"] = {"proxy": path.lstrip("/")}
        headers = {"host": "abc123.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https"}
        if body is not None:
            headers["content-type"] = "application/json"
        if token:
            headers["authorization"] = f"Bearer {token}"
        if authorization is not None:
            headers["authorization"] = authorization
        event["headers"] = headers
        event["body"] = json.dumps(body) if body is not None else None
        reply = self.invoke("AuthFunction", event)
        data = reply.get("body") or ""
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return reply["statusCode"], parsed, reply.get("headers", {})


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)





@contextlib.contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]):
    """A real HTTP server on a free loopback port, in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
