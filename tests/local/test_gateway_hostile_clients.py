"""Issue 11, findings 8 and 9, against the local gateway over real sockets: clients that send their request
headers slowly are cut off, and a frame nested too deeply for route selection is answered and logged."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import websockets

from tests.local.test_gateway_parley_e2e import next_of, signup

SLOW_CLIENTS = 40


async def _slow_header_client(port: int, held: float) -> float | None:
    """Send a request line and then one header byte every 0.2 s; return when the server closed the socket
    (seconds after connecting), or None if it was still open after ``held`` seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        while loop.time() - started < held:
            writer.write(b"X")
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1024), 0.2) == b"":
                    return loop.time() - started
            except TimeoutError:
                continue
    except (ConnectionError, OSError):
        return loop.time() - started
    finally:
        writer.close()
    return None


async def test_clients_that_never_finish_their_headers_are_disconnected(start_gateway):
    gateway = await start_gateway(header_timeout=1.0)
    closed = await asyncio.gather(*(_slow_header_client(gateway.port, held=8.0) for _ in range(SLOW_CLIENTS)))
    assert all(t is not None for t in closed), f"{closed.count(None)} slow-header sockets still open after 8 s"
    async with httpx.AsyncClient() as http:  # and the gateway still serves everyone else
        assert (await http.get(f"{gateway.http_url}/health")).status_code in (200, 404)
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        await ws.send(json.dumps({"action": "echo"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["route"] == "echo"


def _nested(depth: int) -> str:
    return '{"action":"sendMessage","room":"general","text":' + "[" * depth + "]" * depth + "}"


async def test_a_deeply_nested_frame_goes_to_default_and_is_logged(start_gateway, event_log, caplog):
    gateway = await start_gateway()
    caplog.set_level(logging.WARNING, logger="parley_local")
    async with websockets.connect(gateway.ws_url + "?token=good") as ws:
        await ws.send("[" * 5000 + "]" * 5000)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["route"] == "$default"  # as for any body route selection cannot read
        await ws.send(json.dumps({"action": "echo"}))  # the connection carries on
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["route"] == "echo"
    assert any("nested" in r.getMessage() for r in caplog.records if r.name == "parley_local")


async def test_parley_answers_a_frame_nested_a_thousand_deep_as_invalid_json(parley, caplog):
    caplog.set_level(logging.WARNING, logger="parley_local")
    async with httpx.AsyncClient(base_url=parley.http_url) as http:
        alice = await signup(http, "alice")
    async with websockets.connect(f"{parley.ws_url}?token={alice['token']}") as ws:
        await ws.send(json.dumps({"action": "join", "room": "general"}))
        await next_of(ws, "joined")
        await ws.send(_nested(1000))
        error = await next_of(ws, "error")
        assert error["code"] == "invalid_json"
        await ws.send(json.dumps({"action": "ping"}))
        assert await next_of(ws, "pong") == {"type": "pong"}
    assert any("nested" in r.getMessage() for r in caplog.records if r.name == "parley_local")


async def _raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.close()


async def test_header_bytes_that_are_not_utf8_are_a_4xx_not_a_500(parley):
    """Issue 22, section 5: raw \\xff\\xfe in the Authorization header was a gateway 500, over HTTP and on the
    WebSocket handshake; the bytes now reach the handler as ISO-8859-1 text and are refused as a bad token."""
    port = int(parley.http_url.rsplit(":", 1)[1])
    http = await _raw_request(port, b"GET /auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \xff\xfe\r\n\r\n")
    assert http.startswith(b"HTTP/1.1 401"), http[:200]
    body = b'{"username":"zed","password":"wrong one!"}'
    login = await _raw_request(
        port, b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Odd: \xff\xfe\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    assert login.startswith(b"HTTP/1.1 401"), login[:200]  # an unknown name, answered as such
    upgrade = await _raw_request(
        port, b"GET /prod?token=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://\xff\xfe\r\n\r\n")
    assert upgrade.split(b" ", 2)[1].startswith(b"4"), upgrade[:200]
