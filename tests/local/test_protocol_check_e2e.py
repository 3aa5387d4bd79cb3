"""The frame check bites end to end: through the local gateway (the seam the wscat and browser tests share), a
server frame of a shape docs/asyncapi.yaml lacks, and a client frame the document and the parser disagree on,
are both caught, with the frame and the schema path; and /asyncapi.yaml is served as the document."""

from __future__ import annotations

import json

import httpx
import websockets

from tests.local.test_gateway_parley_e2e import next_of, signup
from tests.protocol_check import SPEC_PATH


async def test_a_wrong_frame_through_the_gateway_is_caught_and_says_where(parley, protocol_frames, monkeypatch):
    from parley.chat import service

    monkeypatch.setattr(service, "ping", lambda ports, *, caller: service._send(
        ports, [caller.connection_id], {"type": "pong", "late": True}))
    async with httpx.AsyncClient(base_url=parley.http_url) as http:
        alice = await signup(http, "alice")
        assert (await http.get("/asyncapi.yaml")).text == SPEC_PATH.read_text()
    before = (protocol_frames.server, protocol_frames.client)
    async with websockets.connect(f"{parley.ws_url}?token={alice['token']}") as ws:
        await ws.send(json.dumps({"action": "ping"}))
        assert await next_of(ws, "pong") == {"type": "pong", "late": True}
    assert protocol_frames.server > before[0] and protocol_frames.client > before[1]
    found = protocol_frames.take_pending()
    assert len(found) == 1, found
    assert "frame sent by the local gateway: server frame {'type': 'pong', 'late': True} does not match PongFrame" in found[0]
    assert "at $: Additional properties are not allowed ('late' was unexpected) (schema path additionalProperties)" in found[0]
    protocol_frames.failures.remove(found[0])  # provoked on purpose: not a mismatch of the run


async def test_a_parser_that_drifts_from_the_document_is_caught(parley, protocol_frames, monkeypatch):
    """The server starts refusing a frame the document allows (as if ping had grown a required field)."""
    from parley.chat import frames
    from parley.errors import InvalidRequest

    parse = frames.parse

    def stricter(body):
        command = parse(body)
        if isinstance(command, frames.Ping):
            raise InvalidRequest("'nonce' is required")
        return command

    monkeypatch.setattr(frames, "parse", stricter)
    async with httpx.AsyncClient(base_url=parley.http_url) as http:
        alice = await signup(http, "alice")
    async with websockets.connect(f"{parley.ws_url}?token={alice['token']}") as ws:
        await ws.send(json.dumps({"action": "ping"}))
        assert (await next_of(ws, "error"))["code"] == "invalid_request"
    found = protocol_frames.take_pending()
    assert len(found) == 1, found
    assert found[0] == (
        "client frame received by the local gateway: docs/asyncapi.yaml allows client frame '{\"action\": \"ping\"}'"
        " but the server refuses it as invalid_request ('nonce' is required)"
    )
    protocol_frames.failures.remove(found[0])  # provoked on purpose: not a mismatch of the run
