"""The functions in a process of their own (``FunctionsIn.PROCESS``, parley-local's default): what crosses the
process boundary, and what happens when that process breaks. Each invocation here is a real boto3 Invoke call
to the gateway's Lambda API. How the emulated APIs behave in this mode is held by the modules marked
BOTH_WAYS (test_gateway_websocket, _events, _http, _management, _parley_e2e), which run with either.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from parley_local.lambda_runtime import HandlerLoadError
from parley_local.server import FunctionsIn, LocalGateway

TEMPLATE = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.12
      Timeout: 1
      Environment:
        Variables:
          GREETING: hello from the template
"""

APP = """\
import os
import time


def handler(event, context):
    what = event.get("do")
    if what == "set":
        return {1, 2}
    if what == "raise":
        raise KeyError("no such key")
    if what == "sleep":
        time.sleep(3)
    if what == "exit":
        os._exit(3)
    return {"greeting": os.environ["GREETING"], "echo": event, "function": context.function_name,
            "pid": os.getpid()}
"""


def _stack(tmp_path: Path, app: str = APP) -> Path:
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "fn" / "app.py").write_text(app)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return tmp_path / "template.yaml"


def _invoke(gateway: LocalGateway, payload: dict) -> tuple[dict, str | None]:
    client = boto3.client(
        "lambda",
        endpoint_url=gateway.http_url,
        region_name="us-east-1",
        aws_access_key_id=gateway.credentials.access_key,
        aws_secret_access_key=gateway.credentials.secret_key,
        aws_session_token=gateway.credentials.token,
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )
    answer = client.invoke(FunctionName=gateway.stack.functions["Fn"].function_name, Payload=json.dumps(payload))
    return json.loads(answer["Payload"].read()), answer.get("FunctionError")


def _children() -> set[int]:
    """This process's live child processes (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                found.add(int(entry.name))
    return found


@pytest.fixture
async def gateway(tmp_path):
    async with LocalGateway(_stack(tmp_path), port=0, functions_in=FunctionsIn.PROCESS) as gateway:
        yield gateway


async def test_the_function_runs_in_another_process_with_its_environment(gateway):
    result, error = await asyncio.to_thread(_invoke, gateway, {"say": "hi", "n": [1, 2]})
    assert error is None
    assert result["echo"] == {"say": "hi", "n": [1, 2]}
    assert result["greeting"] == "hello from the template" and result["function"] == gateway.stack.functions["Fn"].function_name
    assert result["pid"] != os.getpid() and result["pid"] in _children()
    assert os.environ.get("GREETING") is None  # the gateway's process does not take the functions' environment


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [({"do": "set"}, "Runtime.MarshalError"), ({"do": "raise"}, "KeyError"), ({"do": "sleep"}, "Sandbox.Timedout")],
)
async def test_failures_come_back_as_lambda_reports_them(gateway, payload, error_type):
    result, error = await asyncio.to_thread(_invoke, gateway, payload)
    assert error == "Unhandled" and result["errorType"] == error_type
    ok, error = await asyncio.to_thread(_invoke, gateway, {"after": error_type})  # and the process still serves
    assert error is None and ok["echo"] == {"after": error_type}


async def test_a_dead_functions_process_fails_every_invocation_and_the_gateway_still_stops(tmp_path):
    before = _children()
    gateway = LocalGateway(_stack(tmp_path), port=0, functions_in=FunctionsIn.PROCESS)
    await gateway.start()
    try:
        result, error = await asyncio.to_thread(_invoke, gateway, {"do": "exit"})
        assert error == "Unhandled" and result["errorType"] == "Runtime.ExitError"
        result, error = await asyncio.to_thread(_invoke, gateway, {"again": True})
        assert error == "Unhandled" and result["errorType"] == "Runtime.ExitError"
    finally:
        await gateway.stop()
    assert _children() <= before


async def test_stop_ends_the_functions_process(tmp_path):
    before = _children()
    async with LocalGateway(_stack(tmp_path), port=0, functions_in=FunctionsIn.PROCESS) as gateway:
        result, _ = await asyncio.to_thread(_invoke, gateway, {})
        assert result["pid"] in _children() - before
    assert result["pid"] not in _children()


async def test_a_handler_that_cannot_load_fails_the_start_with_its_reason(tmp_path):
    before = _children()
    with pytest.raises(HandlerLoadError, match=r"Fn: importing .*app.py failed: ImportError: no such thing"):
        await LocalGateway(_stack(tmp_path, "raise ImportError('no such thing')\n"), port=0,
                           functions_in=FunctionsIn.PROCESS).start()
    assert _children() <= before
    # nothing was left running: the next gateway starts
    async with LocalGateway(_stack(tmp_path), port=0, functions_in=FunctionsIn.PROCESS) as gateway:
        assert (await asyncio.to_thread(_invoke, gateway, {}))[1] is None
