"""Fixtures for the handler tests (helpers in tests/support.py): see that module's docstring."""

from __future__ import annotations

import os
import uuid

import pytest

from tests import protocol_check
from tests.protocol_check import (  # noqa: F401 - the fixture and hooks
    protocol_frames,
    pytest_sessionfinish,
    pytest_terminal_summary,
)
from tests.support import (
    AWS_KEY_ID,
    AWS_SECRET_KEY,
    LOAD_TEST_LIMITS_ENV,
    SECRET,
    ManagementApiState,
    Stack,
    load_template,
    serve_management_api,
)


@pytest.fixture(scope="session")
def template() -> dict:
    return load_template()


@pytest.fixture
def management_api(monkeypatch):
    """A real @connections endpoint that checks SigV4 signatures against the credentials it sets here."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    state = ManagementApiState()
    with serve_management_api(state):  # sets state.endpoint
        yield state


@pytest.fixture
def local_env(monkeypatch, management_api):
    """A local-mode environment with a database of its own (mongomock, or MONGODB_URI when set)."""
    db_name = f"parley_test_{uuid.uuid4().hex[:12]}"
    uri = os.environ.get("MONGODB_URI") or "mongomock://localhost"
    monkeypatch.setenv("PARLEY_ENV", "local")
    monkeypatch.setenv("MONGODB_URI", uri)
    monkeypatch.setenv("MONGODB_DB", db_name)
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("MANAGEMENT_API_ENDPOINT", management_api.endpoint)
    monkeypatch.setenv("WEBSOCKET_URL", "wss://example.execute-api.us-east-1.amazonaws.com/prod")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ParleyTest")
    monkeypatch.delenv("JWT_SECRET_ARN", raising=False)
    for name, value in LOAD_TEST_LIMITS_ENV.items():  # tests/test_limits.py sets the limits it tests
        monkeypatch.setenv(name, value)
    yield {"uri": uri, "db": db_name}
    if not uri.startswith("mongomock://"):
        from parley.adapters.mongo import client_for

        client_for(uri).drop_database(db_name)


@pytest.fixture
def stack(template, management_api, local_env, monkeypatch) -> Stack:
    return protocol_check.watch_stack(Stack(template, management_api), management_api, monkeypatch)
