"""Holds the server to docs/asyncapi.yaml: every WebSocket frame a test stack carries is validated against it.

Two seams, both on the wire side of the handlers:

- the handler stack (tests/support.py ``Stack``): ``watch_stack`` wraps its ``invoke``; a MESSAGE event's body
  is a client frame, and every frame the handlers posted to the @connections endpoint during the invocation
  is a server frame. A failure raises at once, in the test.
- the local gateway (``make run``'s stack, as the end-to-end and browser tests start it): ``watch_websockets``
  wraps aiohttp's WebSocketResponse, so every text frame a client sends (what reaches the MessageFunction as
  the MESSAGE event's body) and every frame sent to a client (what the @connections POSTs carried, and API
  Gateway's own error frames) is checked, whatever the client: Python, wscat or Chromium. A failure is
  recorded and fails the running test at its teardown (``protocol_frames``, autouse).

Server frames must match the message of their ``type`` exactly (closed schemas). Client frames are held to the
server's own parser (``parley.chat.frames.parse``) in both directions: a frame the server accepts must validate,
and a frame it refuses as malformed (``invalid_json``, ``unknown_action``, ``invalid_request`` from parsing) must
not. So deliberately bad frames (fuzz, bad-input tests) need no marker and no test can opt out: the document has
to say exactly what the parser accepts.

Patterns follow ECMA-262 as the document says (``$`` is the end of the string, where Python's ``re`` also lets
it match before a final newline), and ``integer`` means a JSON number written without a fraction (the server
refuses ``5.0``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, ValidationError, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "docs" / "asyncapi.yaml"
_URI = "urn:parley:asyncapi"


# ---------------------------------------------------------------- the document as validators
def _ecma_pattern(validator, pattern: str, instance: Any, schema: dict):
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{_short(instance)} does not match {pattern!r}")


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"(?<!\\)\$$", r"\\Z", pattern))


def _format(validator, fmt: str, instance: Any, schema: dict):
    """``format: emoji`` (docs/asyncapi.yaml's Emoji): one emoji or emoji sequence of Unicode's emoji data, as the
    `emoji` package lists them (the server's own check). Other formats are annotations, as Draft 7 leaves them."""
    if fmt == "emoji" and validator.is_type(instance, "string"):
        import emoji

        if not emoji.is_emoji(instance):
            yield ValidationError(f"{_short(instance)} is not exactly one emoji")


def _integer(checker, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


FrameValidator = validators.extend(
    Draft7Validator,
    validators={"pattern": _ecma_pattern, "format": _format},
    type_checker=Draft7Validator.TYPE_CHECKER.redefine("integer", _integer),
)


@dataclass(frozen=True, eq=False)  # hashed by identity: validators are cached per document
class Protocol:
    """docs/asyncapi.yaml's messages: server frames by ``type``, client frames by ``action``."""

    server: dict[str, str]  # type -> schema name
    client: dict[str, str]  # action -> schema name
    untyped: str | None  # the server frame without a type (API Gateway's own error), if any
    registry: Registry

    def validator(self, schema_name: str) -> Draft7Validator:
        return _validator(self, schema_name)


@functools.cache
def protocol(path: Path = SPEC_PATH) -> Protocol:
    doc = yaml.safe_load(path.read_text())
    registry = Registry().with_resource(_URI, Resource(contents=doc, specification=DRAFT7))
    schemas = doc["components"]["schemas"]
    server: dict[str, str] = {}
    client: dict[str, str] = {}
    untyped = None
    for message in doc["channels"]["chat"]["messages"].values():
        target = doc["components"]["messages"][message["$ref"].rsplit("/", 1)[1]]
        name = target["payload"]["$ref"].rsplit("/", 1)[1]
        props = schemas[name].get("properties", {})
        if "const" in props.get("type", {}):
            server[props["type"]["const"]] = name
        elif "const" in props.get("action", {}):
            client[props["action"]["const"]] = name
        else:
            untyped = name
    return Protocol(server=server, client=client, untyped=untyped, registry=registry)


@functools.lru_cache(maxsize=64)
def _validator(proto: Protocol, schema_name: str) -> Draft7Validator:
    return FrameValidator({"$ref": f"{_URI}#/components/schemas/{schema_name}"}, registry=proto.registry)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _explain(errors: list[ValidationError]) -> str:
    parts = []
    for error in sorted(errors, key=lambda e: list(e.path))[:5]:
        schema_path = "/".join(str(p) for p in error.schema_path)
        parts.append(f"at {error.json_path}: {error.message} (schema path {schema_path})")
    return "; ".join(parts)


# ---------------------------------------------------------------- checking one frame
def server_frame_problem(frame: Any, proto: Protocol | None = None) -> str | None:
    """Why ``frame`` (parsed JSON, or the raw text) is not a server frame of the document; None when it is."""
    proto = proto or protocol()
    if isinstance(frame, (str, bytes)):
        try:
            frame = json.loads(frame)
        except ValueError:
            return f"a server frame that is not JSON: {_short(frame)}"
    if not isinstance(frame, dict):
        return f"a server frame that is not a JSON object: {_short(frame)}"
    if "type" not in frame and proto.untyped is not None:
        name = proto.untyped
    else:
        name = proto.server.get(frame.get("type"))  # type: ignore[arg-type]
        if name is None:
            known = ", ".join(sorted(proto.server))
            return f"a server frame of type {_short(frame.get('type'))}, which docs/asyncapi.yaml does not have (it has {known})"
    errors = list(proto.validator(name).iter_errors(frame))
    if errors:
        return f"server frame {_short(frame, 160)} does not match {name}: {_explain(errors)}"
    return None


def client_frame_problem(body: str | None, proto: Protocol | None = None) -> str | None:
    """Why the document and the server's parser disagree about the client frame ``body``; None when they agree."""
    from parley.chat import frames
    from parley.errors import ChatError

    proto = proto or protocol()
    try:
        frames.parse(body)
        refusal = None
    except ChatError as exc:
        refusal = exc
    schema_errors = _client_schema_errors(body, proto)
    if refusal is None and schema_errors:
        return f"the server accepts client frame {_short(body, 160)} but docs/asyncapi.yaml does not: {schema_errors}"
    if refusal is not None and not schema_errors:
        return (
            f"docs/asyncapi.yaml allows client frame {_short(body, 160)} but the server refuses it as"
            f" {refusal.code.value} ({refusal.reason})"
        )
    return None


def _client_schema_errors(body: str | None, proto: Protocol) -> str | None:
    try:
        data = json.loads(body or "")
    except (ValueError, RecursionError):
        return "not JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    action = data.get("action")
    name = proto.client.get(action) if isinstance(action, str) else None
    if name is None:
        return f"no client message has action {_short(action)}"
    errors = list(proto.validator(name).iter_errors(data))
    return f"{name}: {_explain(errors)}" if errors else None


# ---------------------------------------------------------------- what a run checked
@dataclass
class Tally:
    server: int = 0
    client: int = 0
    failures: list[str] = field(default_factory=list)  # every mismatch of the run
    pending: list[str] = field(default_factory=list)  # those not yet reported by a failing test
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check_server(self, frame: Any, where: str) -> str | None:
        problem = server_frame_problem(frame)
        return self._count("server", problem, where)

    def check_client(self, body: str | None, where: str) -> str | None:
        problem = client_frame_problem(body)
        return self._count("client", problem, where)

    def _count(self, side: str, problem: str | None, where: str) -> str | None:
        with self.lock:
            setattr(self, side, getattr(self, side) + 1)
            if problem is not None:
                problem = f"{where}: {problem}"
                self.failures.append(problem)
                self.pending.append(problem)
        return problem

    def reported(self, problems: list[str]) -> None:
        with self.lock:
            self.pending = [p for p in self.pending if p not in problems]

    def take_pending(self) -> list[str]:
        with self.lock:
            found, self.pending = self.pending, []
        return found


TALLY = Tally()


@pytest.fixture(autouse=True)
def protocol_frames() -> Iterator[Tally]:
    """Fails the test during which a watched stack carried a frame that docs/asyncapi.yaml does not describe."""
    yield TALLY  # a frame that arrived between two tests (a module's stack) fails the next one
    found = TALLY.take_pending()
    if found:
        pytest.fail("frames that do not match docs/asyncapi.yaml:\n" + "\n".join(found), pytrace=False)


def pytest_sessionfinish(session, exitstatus) -> None:
    """A frame that arrived after the last test's check still fails the run."""
    if TALLY.pending and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    for problem in TALLY.pending:
        terminalreporter.write_line(f"frame after the last test that does not match docs/asyncapi.yaml: {problem}", red=True)
    if TALLY.server or TALLY.client:
        terminalreporter.write_line(
            f"docs/asyncapi.yaml: {TALLY.server} server frames and {TALLY.client} client frames validated,"
            f" {len(TALLY.failures)} did not match"
        )


# ---------------------------------------------------------------- the seams
def watch_stack(stack, api, monkeypatch: pytest.MonkeyPatch):
    """Check every frame of the handler stack ``stack`` (tests/support.py) whose @connections endpoint is ``api``."""
    invoke = stack.invoke
    seen: dict[str, tuple[list, int]] = {}  # connection id -> (its list of delivered frames, how many were checked)

    def new_frames() -> list[tuple[str, dict]]:
        fresh = []
        with api.lock:
            for cid, frames in api.delivered.items():
                checked, count = seen.get(cid, (frames, 0))
                start = count if checked is frames else 0  # a new list: the test cleared what was delivered
                fresh.extend((cid, f) for f in frames[start:])
                seen[cid] = (frames, len(frames))
        return fresh

    def checked_invoke(logical_id: str, event: dict):
        context = event.get("requestContext") if isinstance(event, dict) else None
        if isinstance(context, dict) and context.get("eventType") == "MESSAGE":
            problem = TALLY.check_client(event.get("body"), f"client frame to {logical_id}")
            if problem:
                TALLY.reported([problem])
                raise AssertionError(problem)
        new_frames()  # anything delivered outside an invocation was checked at the end of the last one
        try:
            return invoke(logical_id, event)
        finally:
            problems = [p for cid, f in new_frames() if (p := TALLY.check_server(f, f"frame to {cid}"))]
            if problems:
                TALLY.reported(problems)
                raise AssertionError("\n".join(problems))

    monkeypatch.setattr(stack, "invoke", checked_invoke)
    return stack


@contextlib.contextmanager
def watch_websockets() -> Iterator[Tally]:
    """Check every frame of every aiohttp WebSocket server connection (the local gateway's) while open."""
    from aiohttp import WSMsgType, web

    cls = web.WebSocketResponse
    send_str, send_bytes, receive = cls.send_str, cls.send_bytes, cls.receive

    async def checked_send_str(self, data: str, *args: Any, **kwargs: Any):
        TALLY.check_server(data, "frame sent by the local gateway")
        return await send_str(self, data, *args, **kwargs)

    async def checked_send_bytes(self, data: bytes, *args: Any, **kwargs: Any):
        TALLY._count("server", "a binary frame: the protocol has only JSON text frames", "frame sent by the local gateway")
        return await send_bytes(self, data, *args, **kwargs)

    async def checked_receive(self, *args: Any, **kwargs: Any):
        message = await receive(self, *args, **kwargs)
        if message.type == WSMsgType.TEXT:
            TALLY.check_client(message.data, "client frame received by the local gateway")
        return message

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cls, "send_str", checked_send_str)
        patch.setattr(cls, "send_bytes", checked_send_bytes)
        patch.setattr(cls, "receive", checked_receive)
        yield TALLY
