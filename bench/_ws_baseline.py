"""The e2e baseline: a bare ``websockets`` broadcast server doing the chat's work in one process.

join → {"type":"joined"}; sendMessage → validate, build the message (id, createdAt), keep it in memory,
serialize once, ``websockets.broadcast`` to the room. No authentication, no database, no API Gateway
emulation: the ceiling for Python on this machine. ``python -m bench._ws_baseline`` prints ``PORT n``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import defaultdict
from datetime import datetime, timezone

import websockets
from websockets.asyncio.server import broadcast, serve

rooms: dict[str, set] = defaultdict(set)
history: dict[str, list[dict]] = defaultdict(list)


async def handle(ws) -> None:
    user = {"id": f"u{id(ws):x}", "username": f"user{id(ws) % 10_000}"}
    joined: set[str] = set()
    try:
        async for raw in ws:
            try:
                frame = json.loads(raw)
            except ValueError:
                await ws.send(json.dumps({"type": "error", "code": "invalid_json", "message": "not JSON"}))
                continue
            action, room = frame.get("action"), frame.get("room")
            if action == "join" and isinstance(room, str):
                rooms[room].add(ws)
                joined.add(room)
                await ws.send(json.dumps({"type": "joined", "room": room, "users": [user]}))
            elif action == "sendMessage" and room in joined and isinstance(frame.get("text"), str):
                now = time.time()
                message = {
                    "id": f"{int(now * 1000):012x}{os.urandom(6).hex()}",
                    "room": room,
                    "text": frame["text"].strip(),
                    "user": user,
                    "clientMsgId": frame.get("clientMsgId"),
                    "createdAt": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds"),
                }
                history[room].append(message)
                broadcast(rooms[room], json.dumps({"type": "message", "message": message}, separators=(",", ":")))
            elif action == "ping":
                await ws.send('{"type":"pong"}')
            else:
                await ws.send(json.dumps({"type": "error", "code": "unknown_action", "message": "?"}))
    except websockets.ConnectionClosed:
        pass
    finally:
        for room in joined:
            rooms[room].discard(ws)


async def main() -> None:
    async with serve(handle, "127.0.0.1", 0, max_size=128 * 1024) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
