"""Issue 12, finding 1, end to end: a history reply that would pass API Gateway's 128 KB is cut to fit.

Through the local gateway, whose @connections API refuses a post over 128 KB with 413 as AWS does: 35
messages of 4,000 characters (~142 KB of history), then `history` with the default limit of 50. The reply
must arrive, say hasMore, and the next page (before = its first id) must hold exactly the rest.
"""

from __future__ import annotations

import json

import httpx
import websockets

from tests.local.test_gateway_parley_e2e import next_of, signup

MAX_PAYLOAD_BYTES = 128 * 1024  # what the local gateway's @connections API accepts


async def test_history_over_128_kb_arrives_cut_with_has_more_and_the_rest_on_the_next_page(parley):
    async with httpx.AsyncClient(base_url=parley.http_url) as http:
        alice = await signup(http, "alice")
    async with websockets.connect(f"{parley.ws_url}?token={alice['token']}") as ws:
        await ws.send(json.dumps({"action": "join", "room": "general"}))
        await next_of(ws, "joined")
        sent = []
        for i in range(35):
            await ws.send(json.dumps({"action": "sendMessage", "room": "general", "text": f"{i:04d}" + "x" * 3996}))
            sent.append((await next_of(ws, "message"))["message"]["id"])

        await ws.send(json.dumps({"action": "history", "room": "general"}))
        raw = await ws.recv()
        assert len(raw.encode()) <= MAX_PAYLOAD_BYTES
        first = json.loads(raw)
        assert first["type"] == "history" and first["hasMore"] is True
        kept = [m["id"] for m in first["messages"]]
        assert 0 < len(kept) < 35 and kept == sent[-len(kept):]  # the newest, oldest first

        await ws.send(json.dumps({"action": "history", "room": "general", "before": kept[0]}))
        rest = await next_of(ws, "history")
        assert rest["hasMore"] is False
        assert [m["id"] for m in rest["messages"]] + kept == sent  # nothing lost, nothing twice
        assert all(len(m["text"]) == 4000 for m in rest["messages"] + first["messages"])
