"""The WebSocket functions stay light at import: no FastAPI, Mangum or pydantic on their path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import ROOT, function_path, load_template

HEAVY = ("fastapi", "mangum", "pydantic", "starlette", "mongomock", "parley_local")


@pytest.mark.parametrize(
    "logical_id", ["ConnectFunction", "DisconnectFunction", "MessageFunction", "FanoutFunction", "AuthorizerFunction"]
)
def test_websocket_function_imports_nothing_heavy(logical_id, tmp_path):
    path = function_path(load_template(), logical_id)
    probe = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('fn', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {
        **os.environ,
        "PARLEY_ENV": "aws",
        "MONGODB_URI": "mongodb://127.0.0.1:1/",
        "JWT_SECRET": "k" * 48,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "parley" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_connect_does_not_load_boto3_it_never_posts(tmp_path):
    path = function_path(load_template(), "ConnectFunction")
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('fn', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print('boto3' in sys.modules)\n"
    )
    env = {**os.environ, "PARLEY_ENV": "aws", "MONGODB_URI": "mongodb://127.0.0.1:1/", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_a_broadcast_does_not_load_boto3(management_api):
    """The broadcaster signs and sends its own requests: posting loads no boto3 (docs/benchmarks.md, "Cold start")."""
    probe = (
        "import sys\n"
        "from parley.adapters.apigw import ManagementApiBroadcaster\n"
        "from parley.wire import Frame\n"
        f"report = ManagementApiBroadcaster(endpoint={management_api.endpoint!r}).send(connection_ids=['a='], frame=Frame.of({{}}))\n"
        "print(report.delivered, 'boto3' in sys.modules or 'botocore' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "1 False"
