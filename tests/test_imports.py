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


def test_the_http_functions_sibling_modules_load_as_lambda_loads_them(tmp_path):
    """Lambda puts the CodeUri (/var/task) on sys.path and imports ``app`` from there: the siblings
    (auth_models, auth_cookies) import as top-level modules, from any working directory."""
    code_dir = function_path(load_template(), "AuthFunction").parent
    probe = "import app, auth_models; print(callable(app.handler), auth_models.__file__)\n"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"PARLEY_ENV": "aws", "MONGODB_URI": "mongodb://127.0.0.1:1/", "JWT_SECRET": "k" * 48,
                "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(code_dir)})
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    ok, where = out.stdout.split()
    assert ok == "True" and where == str(code_dir / "auth_models.py")


def test_a_sibling_module_of_the_same_name_elsewhere_cannot_stand_in(local_env, monkeypatch):
    """kit.load_function imports a function's siblings fresh: a module already in sys.modules under the same plain
    name (another function's, or an earlier load's) is not used, and is there again afterwards."""
    import types

    from tests.support import load_function

    impostor = types.ModuleType("auth_models")
    monkeypatch.setitem(sys.modules, "auth_models", impostor)
    _, module = load_function(load_template(), "AuthFunction")
    assert module.Credentials.__module__ == "auth_models" and module.Credentials is not getattr(impostor, "Credentials", None)
    assert sys.modules["auth_models"] is impostor
    assert "auth_cookies" not in sys.modules
    _, again = load_function(load_template(), "AuthFunction")
    assert again.Credentials is not module.Credentials  # fresh, as a new container
