"""API Gateway's 32 KB limit on one inbound WebSocket frame, in front of aiohttp's frame parser.

API Gateway's WebSocket quotas: a frame is at most 32 KB and a message at most 128 KB; "if a larger
message (or larger frame size) is received, the connection is closed with code 1009". aiohttp checks
only the size of a whole message (``max_msg_size``), so a 100 KB message sent as one frame would pass.
``FrameLimit`` reads the frame headers (RFC 6455 section 5.2) of the bytes on their way to the parser and,
at the first frame whose payload length is over the limit, fails the connection's reader with
``WebSocketError(1009)``: aiohttp then closes with 1009, exactly as it does for an oversized message.

The length checked is the one in the frame header: the bytes as sent, compressed when the client
negotiated permessage-deflate (AWS does not say which one its limit counts; browsers and most clients
send each message as one frame).
"""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError

MAX_FRAME_BYTES = 32 * 1024


class FrameLimit:
    """Wraps a connection's WebSocket parser (what aiohttp feeds the socket's bytes to)."""

    def __init__(self, parser: Any, reader: Any, limit: int = MAX_FRAME_BYTES) -> None:
        self._parser, self._reader, self._limit = parser, reader, limit
        self._header = bytearray()  # the bytes of a frame header read so far
        self._skip = 0  # payload bytes of the current frame still to pass
        self._tripped = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._tripped:
            return True, b""
        found = self._scan(data)
        if found is None:
            return self._parser.feed_data(data)
        too_big, start = found
        self._tripped = True
        if start:  # the frames before it still reach the handlers, as they would in AWS
            self._parser.feed_data(data[:start])
        self._reader.set_exception(
            WebSocketError(WSCloseCode.MESSAGE_TOO_BIG, f"Frame of {too_big} bytes exceeds the {self._limit}-byte limit")
        )
        return True, b""

    def feed_eof(self) -> Any:
        return self._parser.feed_eof()

    def _scan(self, data: bytes) -> tuple[int, int] | None:
        """Advance over ``data``. For the first frame over the limit: its payload length and the offset in
        ``data`` where its header starts (0 if it started in an earlier chunk); else None."""
        position = start = 0  # a header begun in an earlier chunk starts "at 0" of this one
        while position < len(data):
            if self._skip:
                step = min(self._skip, len(data) - position)
                self._skip -= step
                position += step
                continue
            if not self._header:
                start = position
            self._header.append(data[position])
            position += 1
            needed = _header_length(self._header)
            if needed is None or len(self._header) < needed:
                continue
            length = _payload_length(self._header)
            self._header.clear()
            if length > self._limit:
                return length, start
            self._skip = length
        return None


def _header_length(header: bytearray) -> int | None:
    """The full length of a frame header once its first two bytes are known."""
    if len(header) < 2:
        return None
    code = header[1] & 0x7F
    extended = 2 if code == 126 else 8 if code == 127 else 0
    mask = 4 if header[1] & 0x80 else 0
    return 2 + extended + mask


def _payload_length(header: bytearray) -> int:
    code = header[1] & 0x7F
    if code == 126:
        return int.from_bytes(header[2:4], "big")
    if code == 127:
        return int.from_bytes(header[2:10], "big")
    return code


def install(ws: web.WebSocketResponse, request: web.Request, limit: int = MAX_FRAME_BYTES) -> None:
    """Put a ``FrameLimit`` between the socket and the parser of a prepared WebSocketResponse.

    Reaches into aiohttp (3.10+): the request protocol's ``_payload_parser`` and the response's
    ``_reader`` queue; tests/local/test_gateway_websocket.py fails if either moves."""
    protocol = request.protocol
    protocol._payload_parser = FrameLimit(protocol._payload_parser, ws._reader, limit)
