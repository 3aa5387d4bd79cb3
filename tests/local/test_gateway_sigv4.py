"""Issue 11, finding 7: the local gateway's Lambda Invoke and @connections endpoints check SigV4 against the
local stack's credentials, and refuse the way AWS does (403, the error type in x-amzn-ErrorType).

Issue 22, section 6: those credentials are made afresh at every start, so the ones once written in the source
(or any a local process could know) are refused, and they reach the functions' process by no path another
process can read (its command line, its start-up environment) nor any log."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import boto3
import httpx
import pytest
import websockets
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.local.test_gateway_parley_e2e import next_of, nothing_more, signup


def client(gateway, service: str, **credentials):
    endpoint = gateway.management_url if service == "apigatewaymanagementapi" else gateway.http_url
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}), **credentials)


async def refused(fn, **kwargs) -> tuple[int, str]:
    with pytest.raises(ClientError) as info:
        await asyncio.to_thread(fn, **kwargs)
    return info.value.response["ResponseMetadata"]["HTTPStatusCode"], info.value.response["Error"]["Code"]


# The credentials parley_local/lambda_runtime.py held in its source until issue 22: anyone could sign with them.
ONCE_HARD_CODED = {"aws_access_key_id": "AKIALOCALGATEWAY0000", "aws_secret_access_key": "local-gateway-fake-secret-key",
                   "aws_session_token": "local-gateway-fake-session-token"}


def outsiders(gateway) -> dict[str, dict]:
    """Kinds of callers that are not the stack, each a set of boto3 credentials."""
    good = gateway.credentials
    return {
        "the keys once in the source": ONCE_HARD_CODED,
        "wrong secret": {**good.for_boto3(), "aws_secret_access_key": "not-the-secret"},
        "unknown key": {**good.for_boto3(), "aws_access_key_id": "AKIAOTHERACCOUNT0000"},
        "no session token": {**good.for_boto3(), "aws_session_token": None},
        "another session token": {**good.for_boto3(), "aws_session_token": "stolen-elsewhere"},
    }


EXPECTED = {"the keys once in the source": "UnrecognizedClientException", "wrong secret": "InvalidSignatureException", "unknown key": "UnrecognizedClientException",
            "no session token": "UnrecognizedClientException", "another session token": "UnrecognizedClientException"}


async def test_connections_api_refuses_every_signature_but_the_stacks(gateway, event_log):
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        (connect,) = await event_log.wait_for("connect")
        cid = connect["requestContext"]["connectionId"]
        for kind, credentials in outsiders(gateway).items():
            api = client(gateway, "apigatewaymanagementapi", **credentials)
            assert await refused(api.post_to_connection, ConnectionId=cid, Data=b"forged") == (403, EXPECTED[kind]), kind
            assert await refused(api.delete_connection, ConnectionId=cid) == (403, EXPECTED[kind]), kind
        async with httpx.AsyncClient() as http:
            unsigned = await http.post(f"{gateway.management_url}/@connections/{cid}", content=b"forged")
        assert unsigned.status_code == 403 and unsigned.headers["x-amzn-ErrorType"] == "ForbiddenException"
        assert unsigned.json() == {"message": "Missing Authentication Token"}
        good = client(gateway, "apigatewaymanagementapi", **gateway.credentials.for_boto3())
        await asyncio.to_thread(good.post_to_connection, ConnectionId=cid, Data=b"signed")
        assert await asyncio.wait_for(ws.recv(), 5) == "signed"  # the first and only frame: nothing forged got through


def _signed_by_hand(gateway, url: str, body: bytes, *, when: datetime, service: str = "execute-api",
                    region: str = "us-east-1") -> dict[str, str]:
    """The headers of ``POST url`` signed by botocore's SigV4Auth as at ``when``: its clock is set, so the date in
    the X-Amz-Date header and the one in the signature agree (add_auth reads the clock itself; setting only the
    header signed with the current second, and the control failed whenever the test crossed one)."""
    c = gateway.credentials
    request = AWSRequest(method="POST", url=url, data=body)
    signer = SigV4Auth(Credentials(c.access_key, c.secret_key, c.token), service, region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(request)
    return dict(request.headers)


async def test_an_old_signature_another_service_or_region_or_a_changed_body_is_refused(gateway, event_log):
    async with websockets.connect(gateway.ws_url + "?token=good"):
        (connect,) = await event_log.wait_for("connect")
        cid = connect["requestContext"]["connectionId"]
        url = f"{gateway.management_url}/@connections/{cid.replace('=', '%3D')}"
        now = datetime.now(UTC)
        cases = {
            "ten minutes old": (_signed_by_hand(gateway, url, b"x", when=now - timedelta(minutes=10)), b"x"),
            "for lambda": (_signed_by_hand(gateway, url, b"x", when=now, service="lambda"), b"x"),
            "for another region": (_signed_by_hand(gateway, url, b"x", when=now, region="eu-west-1"), b"x"),
            "body changed": (_signed_by_hand(gateway, url, b"x", when=now), b"y"),
        }
        async with httpx.AsyncClient() as http:
            for kind, (headers, body) in cases.items():
                answer = await http.post(url, content=body, headers=headers)
                assert (answer.status_code, answer.headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException"), kind
            control = await http.post(url, content=b"x", headers=_signed_by_hand(gateway, url, b"x", when=now))
        assert control.status_code == 200


def _forged_send(parley, victim_connection: str, victim: dict) -> dict:
    return {
        "requestContext": {
            "routeKey": "sendMessage", "eventType": "MESSAGE", "connectionId": victim_connection,
            "requestId": "forged", "apiId": "local", "stage": "prod", "domainName": "127.0.0.1",
            "connectedAt": 1, "authorizer": {"userId": victim["user"]["id"], "username": victim["user"]["username"]},
        },
        "body": json.dumps({"action": "sendMessage", "room": "general", "text": "sent by an impostor"}),
        "isBase64Encoded": False,
    }


async def test_a_forged_send_message_invoke_is_refused_and_nothing_is_delivered(parley):
    """The finding as reproduced: an event posted to the Invoke endpoint delivered a message as another user."""
    async with httpx.AsyncClient(base_url=parley.http_url) as http:
        alice, bob = await signup(http, "alice"), await signup(http, "bob")
    async with websockets.connect(f"{parley.ws_url}?token={alice['token']}") as a, \
            websockets.connect(f"{parley.ws_url}?token={bob['token']}") as b:
        for ws in (a, b):
            await ws.send(json.dumps({"action": "join", "room": "general"}))
            await next_of(ws, "joined")
        await next_of(a, "presence")
        (bob_connection,) = [c.id for c in parley.connections.values() if c.info.authorizer["username"] == "bob"]
        name = parley.stack.functions["MessageFunction"].function_name
        payload = json.dumps(_forged_send(parley, bob_connection, bob)).encode()
        for kind, credentials in outsiders(parley).items():
            lam = client(parley, "lambda", **credentials)
            assert await refused(lam.invoke, FunctionName=name, Payload=payload) == (403, EXPECTED[kind]), kind
        async with httpx.AsyncClient() as http:
            unsigned = await http.post(f"{parley.http_url}/2015-03-31/functions/{name}/invocations", content=payload)
        assert unsigned.status_code == 403
        assert unsigned.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
        await nothing_more(a, "message")
        # the control: the stack's own credentials are let through (and this is why they stay on this machine)
        lam = client(parley, "lambda", **parley.credentials.for_boto3())
        answer = await asyncio.to_thread(lam.invoke, FunctionName=name, Payload=payload)
        assert answer["StatusCode"] == 200
        assert (await next_of(a, "message"))["message"]["text"] == "sent by an impostor"


async def test_every_start_makes_new_keys_and_no_other_process_can_read_them(start_gateway, caplog):
    """The functions' own process gets the keys over its socket pair: neither its command line nor the
    environment it started with (both readable in /proc) holds them, and no log line does."""
    from parley_local.server import FunctionsIn

    caplog.set_level(logging.DEBUG)
    first = await start_gateway(functions_in=FunctionsIn.PROCESS)
    keys = first.credentials
    assert keys.access_key != ONCE_HARD_CODED["aws_access_key_id"]
    assert keys.secret_key != ONCE_HARD_CODED["aws_secret_access_key"]
    assert len(keys.secret_key) >= 40 and len(keys.token or "") >= 100
    child = first._host._proc.pid  # the functions' process
    for exposed in (f"/proc/{child}/cmdline", f"/proc/{child}/environ"):
        text = Path(exposed).read_bytes()
        for value in (keys.access_key, keys.secret_key, keys.token):
            assert value.encode() not in text, exposed
    assert keys.secret_key not in os.environ.values()  # the gateway's own environment is what the child copied
    # and they work: the child signs its @connections calls with them (the echo route posts back)
    async with websockets.connect(first.ws_url + "?token=good") as ws:
        await ws.send(json.dumps({"action": "echo"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["route"] == "echo"
    await first.stop()
    second = await start_gateway(functions_in=FunctionsIn.PROCESS)
    assert second.credentials.access_key != keys.access_key and second.credentials.secret_key != keys.secret_key
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for value in (keys.access_key, keys.secret_key, keys.token, second.credentials.secret_key):
        assert value not in logged
