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


SLOW_BODY_CLIENTS = 10


async def _slow_body_client(port: int, path: str, held: float, *, every: float = 1.0) -> tuple[float | None, bytes]:
    """Send a request's headers at once, announcing a 100-byte body, then the body one byte every ``every``
    seconds; return (seconds after connecting at which the server closed the socket, or None if it was still
    open after ``held`` seconds; whatever it answered)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = b""
    writer.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n" % path.encode())
    try:
        while loop.time() - started < held:
            writer.write(b" ")
            await writer.drain()
            try:
                while loop.time() - started < held:  # read what comes until the next byte is due
                    chunk = await asyncio.wait_for(reader.read(4096), every)
                    if chunk == b"":
                        return loop.time() - started, answer
                    answer += chunk
            except TimeoutError:
                continue
    except (ConnectionError, OSError):
        return loop.time() - started, answer
    finally:
        writer.close()
    return None, answer


async def test_clients_that_send_their_body_a_byte_a_second_are_answered_408_and_disconnected(start_gateway):
    """Issue 22, section 6: a body trickling in at 1 byte/s held its socket (and its handler) for good. On every
    API of the port: the HTTP API, the Lambda Invoke API and @connections."""
    gateway = await start_gateway(body_timeout=1.0)
    paths = ["/items", "/2015-03-31/functions/anything/invocations", "/test/@connections/someone"]
    results = await asyncio.gather(*(_slow_body_client(gateway.port, paths[i % len(paths)], held=6.0)
                                     for i in range(SLOW_BODY_CLIENTS)))
    held = [path for (closed, _), path in zip(results, [paths[i % len(paths)] for i in range(SLOW_BODY_CLIENTS)])
            if closed is None]
    assert not held, f"{len(held)} slow-body sockets still open after 6 s: {held}"
    for closed, answer in results:
        assert closed < 4.0, closed  # the deadline is 1 s: well before the 100 bytes were in
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    async with httpx.AsyncClient() as http:  # a body sent in time still goes through, in two parts
        async def two_parts():
            yield b'{"a":'
            await asyncio.sleep(0.3)
            yield b"1}"

        answer = await http.post(f"{gateway.http_url}/items", content=two_parts())
        assert answer.status_code == 200 and json.loads(answer.json()["body"]) == {"a": 1}


def test_the_body_timeout_is_a_flag_of_parley_local():
    from parley_local.__main__ import build_parser
    from parley_local.server import BODY_TIMEOUT_S

    assert build_parser().parse_args([]).body_timeout == BODY_TIMEOUT_S == 10.0
    assert build_parser().parse_args(["--body-timeout", "2.5"]).body_timeout == 2.5
