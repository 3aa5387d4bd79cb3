"""The Lambda-hosting kit: template loading, handler loading, the Lambda context and real-shaped events
(WebSocket and HTTP API).

One copy, used by the local gateway (lambda_runtime.FunctionHost), the tests (tests/support.py) and the
benchmarks (bench/common.py). The fake AWS endpoints the tests and benchmarks post to are in fakes.py.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from .cloudformation import ACCOUNT_ID, REGION, load_template

__all__ = ["EVENTS_DIR", "HandlerLoadError", "LambdaContext", "function_file", "handler_file", "import_handler",
           "authorizer_event", "http_event", "load_function", "load_template", "real_event", "websocket_event"]

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"  # API Gateway events captured from AWS (events/README.md)


class HandlerLoadError(Exception):
    """A handler could not be imported (bad Handler, missing file, or the module raised on import)."""


class LambdaContext:
    """The context object of the Python Lambda runtime (same attribute names and types)."""

    def __init__(
        self,
        function_name: str = "local",
        *,
        arn: str | None = None,
        memory_mb: int = 512,
        timeout_s: float = 15.0,
        request_id: str | None = None,
        log_stream_name: str = "local/[$LATEST]local",
    ) -> None:
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn or f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        # the real runtime passes the environment variable through: a string
        self.memory_limit_in_mb = str(memory_mb)
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# ---------------------------------------------------------------- handlers
def handler_file(code_uri: Path, handler: str, *, logical_id: str) -> tuple[Path, str]:
    """The module file and the function name a ``Handler`` (``<module>.<function>``) names under code_uri."""
    module_path, sep, attribute = handler.rpartition(".")
    if not sep or not module_path or not attribute:
        raise HandlerLoadError(f"{logical_id}: Handler {handler!r} is not <module>.<function>")
    relative = Path(*module_path.replace("/", ".").split("."))
    for candidate in (code_uri / relative.with_suffix(".py"), code_uri / relative / "__init__.py"):
        if candidate.is_file():
            return candidate, attribute
    raise HandlerLoadError(
        f"{logical_id}: Handler {handler!r} needs {code_uri / relative.with_suffix('.py')}, which does not exist"
    )


def import_handler(
    file: Path, attribute: str, *, module_name: str, logical_id: str, register: bool = True
) -> tuple[Callable[[dict[str, Any], Any], Any], ModuleType]:
    """Import a handler's module fresh under ``module_name`` (its module scope runs, as in a new container).

    ``register`` keeps the module in sys.modules while it is in use, as the gateway does."""
    module_spec = importlib.util.spec_from_file_location(module_name, file)
    if module_spec is None or module_spec.loader is None:
        raise HandlerLoadError(f"{logical_id}: cannot import {file}")
    module = importlib.util.module_from_spec(module_spec)
    if register:
        sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise HandlerLoadError(f"{logical_id}: importing {file} failed: {type(exc).__name__}: {exc}") from exc
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise HandlerLoadError(f"{logical_id}: {file} has no callable {attribute!r}")
    return handler, module


def function_file(template: dict[str, Any], logical_id: str, base_dir: Path) -> tuple[Path, str]:
    """The handler file and function of a template's AWS::Serverless::Function (its CodeUri and Handler)."""
    props = template["Resources"][logical_id]["Properties"]
    return handler_file(base_dir / props["CodeUri"], props["Handler"], logical_id=logical_id)


def load_function(template: dict[str, Any], logical_id: str, base_dir: Path) -> tuple[Callable[..., Any], ModuleType]:
    """A function's handler and module, imported fresh from its CodeUri (module scope runs once, as in Lambda).

    As in Lambda, the CodeUri is on ``sys.path`` while the handler is imported, so its sibling modules import as
    top-level modules (``import auth_models``); they are imported fresh too, and taken out of ``sys.modules``
    again afterwards, so that no other function's sibling of the same plain name, nor an earlier load of this
    one, stands in for them."""
    file, attribute = function_file(template, logical_id, base_dir)
    code_dir = base_dir / template["Resources"][logical_id]["Properties"]["CodeUri"]
    with function_dir_on_path(code_dir):
        return import_handler(file, attribute, module_name=f"fn_{logical_id}_{uuid.uuid4().hex[:8]}",
                              logical_id=logical_id, register=False)


@contextlib.contextmanager
def function_dir_on_path(code_dir: Path) -> Iterator[None]:
    """``code_dir`` first on ``sys.path``, and its modules' plain names free of any earlier import, while the body
    runs; then ``sys.path`` and those names in ``sys.modules`` as they were (the imported modules keep the
    siblings they bound)."""
    names = {p.stem for p in code_dir.glob("*.py")} | {p.parent.name for p in code_dir.glob("*/__init__.py")}

    def ours(name: str) -> bool:
        return name.partition(".")[0] in names

    stashed = {name: module for name, module in sys.modules.items() if ours(name)}
    for name in stashed:
        del sys.modules[name]
    sys.path.insert(0, str(code_dir))
    try:
        yield
    finally:
        sys.path.remove(str(code_dir))
        for name in [n for n in sys.modules if ours(n)]:
            del sys.modules[name]
        sys.modules.update(stashed)


# ---------------------------------------------------------------- events
def real_event(name: str) -> dict[str, Any]:
    """A captured API Gateway event from events/, fresh each call."""
    return json.loads((EVENTS_DIR / name).read_text())


def websocket_event(
    route: str, connection_id: str, authorizer: dict[str, Any], body: dict | str | None = None, *,
    connected_at: int | None = None,
) -> dict:
    """A WebSocket event for a route, shaped like the captured ones, with this authorizer context and body.

    ``connected_at`` (epoch ms) is when the connection opened: now unless given (a stale one would make the
    record expire at once, TTL). A message gets ids of its own, as every frame does in API Gateway."""
    if route == "$connect":
        event = real_event("connect.json")
    elif route == "$disconnect":
        event = real_event("disconnect.json")
    else:
        event = real_event("send-message.json")
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event["requestContext"]["messageId"] = uuid.uuid4().hex[:16]
    event = copy.deepcopy(event)
    rc = event["requestContext"]
    now_ms = int(time.time() * 1000)
    rc.update(routeKey=route, connectionId=connection_id, requestId=uuid.uuid4().hex[:16],
              connectedAt=now_ms if connected_at is None else connected_at, requestTimeEpoch=now_ms)
    rc["authorizer"] = dict(authorizer)
    return event


def authorizer_event(*, token: str, origin: str | None = None) -> dict:
    """The REQUEST authorizer's event on ``$connect``, shaped like the captured one, with ``?token=`` and, when
    given, an ``Origin`` header."""
    event = real_event("powertools-websocket-authorizer-request.json")
    event["queryStringParameters"] = {"token": token}
    if origin:
        event["headers"]["Origin"] = origin
    return event


def http_event(
    method: str, path: str, *, query: str = "", headers: dict[str, str] | None = None, body: str | None = None,
    source_ip: str | None = None,
) -> dict:
    """An HTTP API (payload format 2.0) event for ``method path``, shaped like the captured one, with the API's
    host and these headers (lower-case names), body and, if given, source address."""
    event = real_event("http-signup.json")
    http = event["requestContext"]["http"]
    http.update(method=method, path=path)
    if source_ip is not None:
        http["sourceIp"] = source_ip
    event["rawPath"], event["rawQueryString"] = path, query
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["headers"] = {"host": "abc123.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https",
                        **(headers or {})}
    event["body"] = body
    return event
