"""Helpers for the handler tests, built from template.yaml itself so tests cannot drift from the deployment.

- ``template``: the parsed template (CloudFormation tags kept as {"Ref": ...} / {"Fn::Sub": ...}).
- ``management_api``: a real HTTP server speaking the @connections Management API (parley_local/fakes.py), which
  the broadcaster (and boto3) call over real HTTP; it records deliveries and can answer 410 (gone), 429
  (throttled) or 500 for chosen ids.
- template and handler loading, ``LambdaContext``, the captured events and the WebSocket events built from them
  (``websocket_event``) come from the Lambda-hosting kit (parley_local/kit.py), which the local gateway and the
  benchmarks use too.
- ``stack``: every function of the template loaded from its CodeUri/Handler with a fresh local environment
  (mongomock, or the real MongoDB named by MONGODB_URI) and helpers to drive them with real-shaped events.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from parley_local import kit
from parley_local.fakes import (  # noqa: F401 - the tests' fake @connections endpoint
    AWS_KEY_ID,
    AWS_SECRET_KEY,
    ManagementApiState,
    serve_http,
    serve_management_api,
    sigv4_is_valid,
)
from parley_local.kit import (  # noqa: F401 - the tests use them from here
    LambdaContext,
    authorizer_event,
    http_event,
    real_event,
    websocket_event,
)

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SECRET = "test-secret-" + "x" * 40
# Template parameters that lift the rate limits, for stacks whose tests are about delivery under load (a client
# sending as fast as it can, fifty users signing up from one address), not about the limits (tests/test_limits.py,
# test_limits_e2e.py, test_signup_throttle.py).
LOAD_TEST_LIMITS = {"RateLimitWindowSeconds": "1", "SendMessageLimit": "1000", "TypingLimit": "1000", "JoinLimit": "1000",
                    "CreateRoomLimit": "1000", "OpenDirectLimit": "1000", "AddMemberLimit": "1000",
                    "HistoryLimit": "1000", "SignupLimit": "10000"}
# The same as the functions' environment variables, for the handler tests' `local_env`.
LOAD_TEST_LIMITS_ENV = {"RATE_LIMIT_WINDOW_SECONDS": "1", "SEND_MESSAGE_LIMIT": "1000", "TYPING_LIMIT": "1000",
                        "JOIN_LIMIT": "1000", "CREATE_ROOM_LIMIT": "1000", "OPEN_DIRECT_LIMIT": "1000",
                        "ADD_MEMBER_LIMIT": "1000", "HISTORY_LIMIT": "1000", "SIGNUP_LIMIT": "10000"}


# ---------------------------------------------------------------- the kit, rooted at this repository
def load_template(path: Path = ROOT / "template.yaml") -> dict:
    return kit.load_template(path)


def function_path(template: dict, logical_id: str) -> Path:
    return kit.function_file(template, logical_id, ROOT)[0]


def load_function(template: dict, logical_id: str):
    """Import a function's handler module the way Lambda does: fresh, from its CodeUri, module scope run once."""
    return kit.load_function(template, logical_id, ROOT)


# ---------------------------------------------------------------- the stack
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
        if route is None:
            action = frame.get("action") if isinstance(frame, dict) else None
            route = action if action in self.stack.routes else "$default"
        event = websocket_event(route, self.connection_id, self.authorizer, frame, connected_at=self.connected_at)
        return self.stack.invoke("MessageFunction", event)

    def frames(self, type_: str | None = None) -> list[dict]:
        return self.stack.api.frames(self.connection_id, type_)

    def last(self, type_: str) -> dict:
        found = self.frames(type_)
        assert found, f"{self.username} received no {type_!r} frame; got {self.frames()}"
        return found[-1]

    def disconnect(self, status: int = 1001) -> dict:
        event = websocket_event("$disconnect", self.connection_id, self.authorizer, connected_at=self.connected_at)
        event["requestContext"]["disconnectStatusCode"] = status
        return self.stack.invoke("DisconnectFunction", event)


def migrate_database() -> None:
    """What the DatabaseMigration custom resource does at deploy time (functions/migrate/app.py), for the
    database of the test's environment (local_env): the handlers themselves never create an index."""
    from parley.adapters import mongo, mongo_migrate

    db = mongo.database(os.environ["MONGODB_URI"], os.environ.get("MONGODB_DB", "parley"))
    mongo_migrate.migrate(db, message_retention_days=int(os.environ.get("MESSAGE_RETENTION_DAYS") or 0))


class Stack:
    def __init__(self, template: dict, api: ManagementApiState, *, migrate: bool = True):
        if migrate:  # deployed: the stack's migration has run before any handler is called
            migrate_database()
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

    def invoke(self, logical_id: str, event: dict):
        return self.handlers[logical_id](event, LambdaContext(logical_id))

    def connect(self, username: str, user_id: str | None = None, context: dict | None = None) -> Client:
        client = Client(self, new_connection_id(), user_id or f"u-{username}", username, 1731324924553, dict(context or {}))
        event = websocket_event("$connect", client.connection_id, client.authorizer)
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
        cookies: list[str] | None = None,
    ):
        """Call the HTTP API function through Mangum with an API Gateway HTTP API (payload 2.0) event.

        ``cookies`` (``name=value`` strings) go where API Gateway puts the Cookie header, the event's ``cookies``;
        the function's own ``cookies`` (its Set-Cookie headers) come back as the headers' ``set-cookie`` list."""
        headers = {}
        if body is not None:
            headers["content-type"] = "application/json"
        if token:
            headers["authorization"] = f"Bearer {token}"
        if authorization is not None:
            headers["authorization"] = authorization
        event = http_event(method, path, query=query, headers=headers,
                           body=json.dumps(body) if body is not None else None, source_ip=source_ip)
        if cookies:
            event["cookies"] = list(cookies)
        reply = self.invoke("AuthFunction", event)
        data = reply.get("body") or ""
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        headers = reply.get("headers", {})
        if reply.get("cookies"):
            headers = {**headers, "set-cookie": reply["cookies"]}
        return reply["statusCode"], parsed, headers

