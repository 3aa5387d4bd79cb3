"""Fixtures for the local gateway's tests: a toy stack (fixture_app/) served on a free port."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from parley_local.server import FunctionsIn, LocalGateway
from tests.protocol_check import watch_websockets
from tests.support import LOAD_TEST_LIMITS

HERE = Path(__file__).parent
FIXTURE_TEMPLATE = HERE / "fixture_app" / "template.yaml"
ROOT = HERE.parents[1]
EVENTS_DIR = ROOT / "events"  # the repository's copies of real captured events


class EventLog:
    """Events the toy handlers recorded (a JSON-lines file named by EVENT_LOG)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        complete = self.path.read_text().split("\n")[:-1]  # a line still being written has no newline yet
        rows = [json.loads(line) for line in complete if line.strip()]
        return [r for r in rows if kind is None or r["kind"] == kind]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [r["event"] for r in self.all(kind)]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(kind)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} {kind!r} event(s), got {len(self.events(kind))}")


@pytest.fixture
def event_log(tmp_path: Path) -> EventLog:
    return EventLog(tmp_path / "events.jsonl")


# Modules that hold both ways of running the functions to the same tests mark themselves with this.
BOTH_WAYS = pytest.mark.parametrize("functions_in", list(FunctionsIn), indirect=True, ids=lambda f: f.value)


@pytest.fixture
def functions_in(request) -> FunctionsIn:
    """Where the gateway runs the functions: on its threads (quick to start), unless a module asks for both."""
    return getattr(request, "param", FunctionsIn.THREADS)


@pytest.fixture
async def start_gateway(event_log: EventLog, functions_in: FunctionsIn):
    """Start a gateway for the toy stack on a free port: ``gw = await start_gateway(idle_timeout=1)``."""
    started: list[LocalGateway] = []

    async def start(**kwargs: Any) -> LocalGateway:
        overrides = {"Secret": "s3cr3t-param", **kwargs.pop("parameter_overrides", {})}
        env_vars = {"Parameters": {"EVENT_LOG": str(event_log.path)}}
        for key, values in kwargs.pop("env_vars", {}).items():
            env_vars.setdefault(key, {}).update(values)
        kwargs.setdefault("functions_in", functions_in)
        gateway = LocalGateway(
            FIXTURE_TEMPLATE, host="127.0.0.1", port=0, parameter_overrides=overrides, env_vars=env_vars, **kwargs
        )
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop()


@pytest.fixture
async def gateway(start_gateway: Callable[..., Any]) -> LocalGateway:
    return await start_gateway()


@pytest.fixture
def fixture_template() -> Path:
    return FIXTURE_TEMPLATE


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture
async def parley(repo_root, monkeypatch, functions_in):
    """Parley's whole stack (the real template.yaml), as `make run` starts it, on a free port; a real
    MONGODB_URI, when set, gets a database of its own."""
    from parley_local.__main__ import STACK_NAME, parley_profile

    monkeypatch.delenv("JWT_SECRET", raising=False)
    env_vars, overrides, _ = parley_profile()
    env_vars["Parameters"]["MONGODB_DB"] = f"parley_test_{uuid.uuid4().hex[:10]}"
    overrides.update(LOAD_TEST_LIMITS)
    async with LocalGateway(
        repo_root / "template.yaml", port=0, env_vars=env_vars, parameter_overrides=overrides, stack_name=STACK_NAME,
        functions_in=functions_in,
    ) as gateway:
        with watch_websockets():  # every frame against docs/asyncapi.yaml
            yield gateway


@pytest.fixture
def real_event() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / name).read_text())

    return load
