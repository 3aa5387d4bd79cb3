"""Big rooms through the local gateway: the message function splits fan-outs across invocations of
FanoutFunction through the gateway's Lambda Invoke API (boto3's own lambda client, found through
AWS_ENDPOINT_URL_LAMBDA), every member still gets each message once, and 410s still purge."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter

import boto3
import httpx
import pytest
import websockets
from botocore.config import Config

from parley_local.server import LocalGateway
from tests.local.test_gateway_parley_e2e import next_of, nothing_more, signup
from tests.protocol_check import watch_websockets

SLICE = 3


def _sliced_gateway(repo_root, monkeypatch, **kwargs) -> LocalGateway:
    from parley_local.__main__ import STACK_NAME, parley_profile

    monkeypatch.delenv("JWT_SECRET", raising=False)
    env_vars, overrides, _ = parley_profile()
    env_vars["Parameters"]["MONGODB_DB"] = f"parley_test_{uuid.uuid4().hex[:10]}"
    env_vars["MessageFunction"] = {"FANOUT_SLICE": str(SLICE)}
    env_vars["DisconnectFunction"] = {"FANOUT_SLICE": str(SLICE)}
    return LocalGateway(
        repo_root / "template.yaml", port=0, env_vars=env_vars, parameter_overrides=overrides, stack_name=STACK_NAME,
        **kwargs,
    )


@pytest.fixture
async def sliced_parley(repo_root, monkeypatch):
    async with _sliced_gateway(repo_root, monkeypatch) as gateway:
        with watch_websockets():  # every frame against docs/asyncapi.yaml
            yield gateway


def _count_invokes(gateway: LocalGateway, monkeypatch) -> Counter:
    seen: Counter = Counter()
    host = gateway._host
    original = host.invoke

    async def counting(logical_id, event, **kwargs):
        seen[logical_id] += 1
        return await original(logical_id, event, **kwargs)

    monkeypatch.setattr(host, "invoke", counting)
    return seen


def _lambda(gateway: LocalGateway):
    return boto3.client(
        "lambda", endpoint_url=gateway.http_url, region_name="us-east-1", **gateway.credentials.for_boto3(),
        config=Config(retries={"max_attempts": 1}),
    )


async def test_a_room_bigger_than_a_slice_gets_every_message_once_and_gone_ids_are_purged(sliced_parley, monkeypatch):
    gw = sliced_parley
    members = 8
    async with httpx.AsyncClient(base_url=gw.http_url) as http:
        users = [await signup(http, f"user{i}") for i in range(members)]
    sockets = [await websockets.connect(f"{gw.ws_url}?token={u['token']}") for u in users]
    try:
        for ws in sockets:
            await ws.send(json.dumps({"action": "join", "room": "general"}))
            await next_of(ws, "joined")
        # a connection the database still lists but API Gateway no longer knows: its post answers 410
        from parley.model import Connection, UserRef

        runtime = gw._host.loaded["MessageFunction"].module.runtime
        ghost = Connection(id="ghost0000000=", user=UserRef(id="u-ghost", username="ghost"))
        runtime.connections.join(connection=ghost, room="general")
        invokes = _count_invokes(gw, monkeypatch)

        for n in range(3):
            await sockets[n].send(json.dumps({"action": "sendMessage", "room": "general", "text": f"hello {n}"}))
        for ws in sockets:
            got = []
            for _ in range(3):
                got.append((await next_of(ws, "message"))["message"]["text"])
            assert sorted(got) == ["hello 0", "hello 1", "hello 2"]
            await nothing_more(ws, "message")
        # 9 recipients in slices of 3: each message was posted by three fan-out invocations
        assert invokes["FanoutFunction"] >= 3 * 3
        assert runtime.connections.get(connection_id=ghost.id) is None
    finally:
        for ws in sockets:
            await ws.close()


async def test_invoked_functions_never_wait_for_threads_their_callers_hold(repo_root, monkeypatch):
    """Two event threads, both busy with a big-room sendMessage that waits on its slices' invokes."""
    async with _sliced_gateway(repo_root, monkeypatch, max_workers=2) as gw:
        async with httpx.AsyncClient(base_url=gw.http_url) as http:
            users = [await signup(http, f"user{i}") for i in range(7)]
        sockets = [await websockets.connect(f"{gw.ws_url}?token={u['token']}") for u in users]
        try:
            for ws in sockets:
                await ws.send(json.dumps({"action": "join", "room": "general"}))
                await next_of(ws, "joined")
            for n in range(2):  # at once: each holds one of the two threads while its 3 slices are invoked
                await sockets[n].send(json.dumps({"action": "sendMessage", "room": "general", "text": f"both {n}"}))
            for ws in sockets:
                got = [(await asyncio.wait_for(next_of(ws, "message"), 15))["message"]["text"] for _ in range(2)]
                assert sorted(got) == ["both 0", "both 1"]
        finally:
            for ws in sockets:
                await ws.close()


async def test_the_invoke_api_runs_template_functions_by_name_or_arn(sliced_parley):
    gw = sliced_parley
    spec = gw.stack.functions["FanoutFunction"]
    client = _lambda(gw)
    event = {"endpoint": gw.management_url, "connectionIds": ["nobody000000="], "payload": {"type": "pong"}}
    for name in (spec.function_name, spec.arn):
        response = await asyncio.to_thread(
            client.invoke, FunctionName=name, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        assert "FunctionError" not in response
        assert json.loads(response["Payload"].read()) == {"delivered": 0, "gone": ["nobody000000="], "failed": []}

    response = await asyncio.to_thread(client.invoke, FunctionName=spec.function_name, Payload=b'{"endpoint": 1}')
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "InvalidFanoutEvent"

    with pytest.raises(client.exceptions.ResourceNotFoundException):
        await asyncio.to_thread(client.invoke, FunctionName="no-such-function", Payload=b"{}")


def test_functions_find_the_invoke_api_through_the_service_endpoint_variable(sliced_parley):
    gw = sliced_parley
    for env in gw.function_env.values():
        assert env["AWS_ENDPOINT_URL_LAMBDA"] == gw.http_url
    assert boto3.client("lambda", region_name="us-east-1").meta.endpoint_url == gw.http_url
