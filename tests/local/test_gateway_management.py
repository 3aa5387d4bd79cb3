"""The @connections Management API, through boto3's real apigatewaymanagementapi client (SigV4, URL-encoded ids)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import boto3
import httpx
import pytest
import websockets
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed

from tests.local.conftest import BOTH_WAYS

pytestmark = BOTH_WAYS  # every test here runs with the functions on threads and in their own process


@pytest.fixture
def management(gateway):
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=gateway.management_url,
        region_name="us-east-1",
        **gateway.credentials.for_boto3(),  # the local stack's: the gateway checks the signature
    )


async def call(fn, **kwargs):
    """boto3 is synchronous and the gateway runs on this event loop: call it from a thread."""
    return await asyncio.to_thread(fn, **kwargs)


async def connection_id(event_log) -> str:
    (connect,) = await event_log.wait_for("connect")
    return connect["requestContext"]["connectionId"]


async def error_code(fn, **kwargs) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        await call(fn, **kwargs)
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


async def test_post_get_delete(gateway, event_log, management):
    async with websockets.connect(gateway.ws_url + "?token=good", user_agent_header="test-agent/1.0") as ws:
        cid = await connection_id(event_log)
        assert "=" in cid  # so the id must travel URL-encoded

        await call(management.post_to_connection, ConnectionId=cid, Data=b'{"hello": "world"}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"hello": "world"}

        await ws.send(json.dumps({"action": "echo"}))
        await asyncio.wait_for(ws.recv(), 5)
        info = await call(management.get_connection, ConnectionId=cid)
        now = datetime.now(timezone.utc)
        assert now - timedelta(seconds=30) < info["ConnectedAt"] <= info["LastActiveAt"] <= now + timedelta(seconds=1)
        assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "test-agent/1.0"}

        response = await call(management.delete_connection, ConnectionId=cid)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    (disconnect,) = await event_log.wait_for("disconnect")
    assert disconnect["requestContext"]["connectionId"] == cid

    # a closed connection is gone for every operation
    for fn in (management.get_connection, management.delete_connection):
        assert await error_code(fn, ConnectionId=cid) == ("GoneException", 410)
    assert await error_code(management.post_to_connection, ConnectionId=cid, Data=b"x") == ("GoneException", 410)


async def test_unknown_connection_is_gone(gateway, management):
    assert await error_code(management.post_to_connection, ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x") == (
        "GoneException",
        410,
    )


async def test_post_over_128_kb_is_payload_too_large(gateway, event_log, management):
    async with websockets.connect(gateway.ws_url + "?token=good", max_size=None) as ws:
        cid = await connection_id(event_log)
        big = b"x" * (128 * 1024 + 1)
        assert await error_code(management.post_to_connection, ConnectionId=cid, Data=big) == (
            "PayloadTooLargeException",
            413,
        )
        await call(management.post_to_connection, ConnectionId=cid, Data=big[:-1])  # exactly the limit is fine
        assert len(await asyncio.wait_for(ws.recv(), 5)) == 128 * 1024


async def test_binary_data_arrives_as_a_binary_frame(gateway, event_log, management):
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        cid = await connection_id(event_log)
        await call(management.post_to_connection, ConnectionId=cid, Data=b"\xff\x00\xfe")
        assert await asyncio.wait_for(ws.recv(), 5) == b"\xff\x00\xfe"


async def test_unsigned_requests_are_refused(gateway, event_log):
    async with websockets.connect(gateway.ws_url + "?token=good"):
        cid = await connection_id(event_log)
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{gateway.management_url}/@connections/{cid}", content=b"x")
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"


async def test_handlers_reach_the_management_api_through_their_own_boto3_client(gateway, event_log):
    """The toy message handler posts with boto3 and MANAGEMENT_API_ENDPOINT from the template, rewritten."""
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        await ws.send(json.dumps({"action": "inspect"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply["env"]["MANAGEMENT_API_ENDPOINT"] == gateway.management_url
