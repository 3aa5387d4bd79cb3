"""GatewayThread: the gateway in a background thread, for synchronous tests and tools."""

from __future__ import annotations

import json

import boto3
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from parley_local.server import GatewayThread
from parley_local.cloudformation import TemplateError


def test_sync_use(fixture_template):
    thread = GatewayThread(fixture_template, host="127.0.0.1", port=0, parameter_overrides={"Secret": "x"})
    with thread as gateway:
        with connect(gateway.ws_url + "?token=good") as ws:
            ws.send(json.dumps({"action": "echo"}))
            assert json.loads(ws.recv(timeout=5))["route"] == "echo"
            (connection_id,) = gateway.connections
            client = boto3.client(
                "apigatewaymanagementapi", endpoint_url=gateway.management_url, region_name="us-east-1",
                **gateway.credentials.for_boto3(),
            )
            client.post_to_connection(ConnectionId=connection_id, Data=b"direct")
            assert ws.recv(timeout=5) == "direct"
            thread.stop()
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
            assert info.value.rcvd.code == 1001
    assert not thread._thread.is_alive()


def test_start_errors_reach_the_caller(tmp_path):
    with pytest.raises(TemplateError, match="cannot read template"):
        GatewayThread(tmp_path / "missing.yaml", port=0).start()
