"""A MongoDB that stalls: a real TCP server on a free loopback port, for the deadline tests (tests/test_deadline.py).

``answer_hello=True``: it answers the handshake and the monitor's ``hello`` (OP_QUERY and OP_MSG, as a standalone
server) and never answers anything else, so pymongo selects it, sends the operation and waits on the socket: the
stall ``socketTimeoutMS`` used to bound. ``answer_hello=False``: it accepts connections and never answers at all
(the stall server selection bounds). tests/test_database_outage.py's dead port, by contrast, refuses at once.
"""

from __future__ import annotations

import socket
import struct
import threading
from datetime import datetime, timezone

import bson

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
HELLO = {"ismaster", "isMaster", "hello"}


def _hello(connection_id: int) -> dict:
    return {"ismaster": True, "isWritablePrimary": True, "helloOk": True, "maxWireVersion": 21, "minWireVersion": 0,
            "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48_000_000, "maxWriteBatchSize": 100_000,
            "localTime": datetime.now(timezone.utc), "logicalSessionTimeoutMinutes": 30,
            "connectionId": connection_id, "ok": 1.0}


class StallingMongo:
    def __init__(self, *, answer_hello: bool = True) -> None:
        self.answer_hello = answer_hello
        self.stalled: list[str] = []  # the commands it received and never answered
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> StallingMongo:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        for s in [self._server, *self._sockets]:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn, len(self._sockets)), daemon=True).start()

    def _serve(self, conn: socket.socket, connection_id: int) -> None:
        try:
            while True:
                head = self._read(conn, 16)
                length, request_id, _, op = struct.unpack("<iiii", head)
                body = self._read(conn, length - 16)
                command = self._command(op, body)
                name = next(iter(command), "")
                if not self.answer_hello or name not in HELLO:
                    self.stalled.append(name)
                    continue  # never answered: the client waits
                conn.sendall(self._reply(op, request_id, _hello(connection_id)))
        except (OSError, ConnectionError):
            return

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    @staticmethod
    def _command(op: int, body: bytes) -> dict:
        if op == OP_QUERY:  # flags, collection name (cstring), skip, return, query
            end = body.index(b"\x00", 4) + 1 + 8
            return bson.decode(body[end:end + struct.unpack("<i", body[end:end + 4])[0]])
        if op == OP_MSG:  # flagBits, then a kind-0 section: the command document
            return bson.decode(body[5:5 + struct.unpack("<i", body[5:9])[0]])
        return {}

    @staticmethod
    def _reply(op: int, request_id: int, doc: dict) -> bytes:
        encoded = bson.encode(doc)
        if op == OP_QUERY:
            payload = struct.pack("<iqii", 0, 0, 0, 1) + encoded
            return struct.pack("<iiii", 16 + len(payload), 0, request_id, OP_REPLY) + payload
        payload = struct.pack("<I", 0) + b"\x00" + encoded
        return struct.pack("<iiii", 16 + len(payload), 0, request_id, OP_MSG) + payload
