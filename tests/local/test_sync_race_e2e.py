"""Catch-up never misses a message, whatever the concurrency (issue 21), end to end over real sockets.

12 sockets send 300 messages at once while a reader drops mid-run, reconnects and catches up. Message ids are
minted before the insert, so concurrent handlers store them out of id order: a message whose id sorts before the
last one the reader saw live can be stored after the reader dropped, and `history after=<last id seen>` can never
return it. `sync` from the last message's cursor re-reads as far back as a change can be stored late
(docs/protocol.md, "Delivery and order"), so it finds them all.

On the local gateway (mongomock, handlers on threads) every store takes microseconds, so the window between
minting an id and storing the message is far narrower than on AWS, where a Lambda invocation can pause for
hundreds of milliseconds (a cold connection, a GC pause, a throttled retry) between the two: 20 runs of variants of
this test with `history after` lost 1 message in all. ``slow_stores`` puts that tail back: one store in 8 waits 0.2-2 s after
its id was minted (outside the database lock, so the other handlers go on), as a slow invocation does; then
`history after` lost 10 and 5 messages in 2 runs, every one stored late behind the newest id the reader had.

``CATCH_UP`` swaps in today's `history after` to show the race it fixes: run with PARLEY_RACE_CATCH_UP=history
and the test fails (the counts are printed either way).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time

import httpx
import pytest
import websockets

from parley_local.server import FunctionsIn

SENDERS, TOTAL, RUNS = 12, 300, int(os.environ.get("PARLEY_RACE_RUNS", "3"))
# the functions in a process of their own, as `make run` has them: handlers overlap as on AWS
FUNCTIONS = FunctionsIn.THREADS  # in the test's process, where slow_stores reaches them


@pytest.fixture
def slow_stores(parley, monkeypatch):
    import sys

    # the gateway's own copy of the adapters (it imports the layer afresh while it runs), not the tests' one
    mongo = sys.modules["parley.adapters.mongo"]
    insert = mongo.MongoMessageStore.insert  # guarded: it takes the database lock itself
    chance = random.Random(21)
    slowed: list[int] = []

    def slow_insert(self, *, message):
        slowed.append(1)
        if chance.random() < 1 / 8:
            time.sleep(chance.uniform(0.2, 2.0))  # a slow invocation, between minting the id and storing
        return insert(self, message=message)

    monkeypatch.setattr(mongo.MongoMessageStore, "insert", slow_insert)
    yield slowed
    assert len(slowed) >= RUNS * TOTAL, "the gateway's handlers did not store through the patched adapter"
CATCH_UP = os.environ.get("PARLEY_RACE_CATCH_UP", "sync")
AWAY = 2.0  # seconds the reader is gone while the senders go on


async def sign_up(http, name):
    r = await http.post("/auth/signup", json={"username": name, "password": "correct horse 1"})
    assert r.status_code == 201, r.text
    return r.json()


async def open_socket(gateway, token, room):
    ws = await websockets.connect(f"{gateway.ws_url}?token={token}", max_size=2**20)
    await ws.send(json.dumps({"action": "join", "room": room}))
    while json.loads(await ws.recv()).get("type") != "joined":
        pass
    return ws


async def reply(ws, type_, live):
    """The next frame of ``type_``; message frames that arrive meanwhile are live deliveries, kept in ``live``."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame.get("type") == "message":
            live[frame["message"]["id"]] = frame["message"]
        elif frame.get("type") == type_:
            return frame
        elif frame.get("type") == "error":
            raise AssertionError(frame)


async def catch_up(ws, room, last, live):
    """Every message the reader missed, as its client would ask for it, repeated while hasMore."""
    got = {}
    if CATCH_UP == "history":
        after = last["id"]
        while True:
            await ws.send(json.dumps({"action": "history", "room": room, "after": after, "limit": 100}))
            page = await reply(ws, "history", live)
            got.update((m["id"], m) for m in page["messages"])
            if page["messages"]:
                after = page["messages"][-1]["id"]
            if not page["hasMore"]:
                return got
    since = last["cursor"]
    while True:
        await ws.send(json.dumps({"action": "sync", "room": room, "since": since, "limit": 100}))
        page = await reply(ws, "sync", live)
        got.update((m["id"], m) for m in page["messages"])
        since = page["cursor"]
        if not page["hasMore"]:
            return got


async def one_run(gateway, http, run):
    room = f"race{run}"
    senders = [await sign_up(http, f"s{run}x{i:02d}") for i in range(SENDERS)]
    reader = await sign_up(http, f"reader{run}")
    sockets = [await open_socket(gateway, s["token"], room) for s in senders]
    ws = await open_socket(gateway, reader["token"], room)
    per_sender = TOTAL // SENDERS

    async def send_all(i, s):
        for n in range(per_sender):
            await s.send(json.dumps({"action": "sendMessage", "room": room, "text": f"{i}:{n}", "clientMsgId": f"{i}-{n}"}))

    async def echoes(s):
        seen = 0
        while seen < per_sender:
            frame = json.loads(await asyncio.wait_for(s.recv(), 120))
            assert frame.get("type") != "error", frame
            if frame.get("type") == "message" and frame["message"]["user"]["id"] == s.user_id:
                seen += 1

    for s, account in zip(sockets, senders):
        s.user_id = account["user"]["id"]
    stored = [asyncio.create_task(echoes(s)) for s in sockets]
    sending = asyncio.gather(*(send_all(i, s) for i, s in enumerate(sockets)))
    live, last, out_of_order = {}, None, 0
    while len(live) < TOTAL // 3:  # the reader is a third of the way in when its connection drops
        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if frame.get("type") == "message":
            out_of_order += bool(last and frame["message"]["id"] < max(live))
            live[frame["message"]["id"]] = last = frame["message"]
    await ws.close()
    last = live[max(live)]  # the newest message the reader has: where its client catches up from
    await asyncio.sleep(AWAY)  # away while the senders go on
    ws = await open_socket(gateway, reader["token"], room)  # back: live delivery again, then catch up
    caught = await catch_up(ws, room, last, live)
    await sending
    await asyncio.gather(*stored)  # every message is stored (its sender saw it)
    try:  # whatever is still on its way to the reader
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
            if frame.get("type") == "message":
                live[frame["message"]["id"]] = frame["message"]
    except TimeoutError:
        pass
    has = set(live) | set(caught)
    all_ids = await _all_ids(gateway, reader["token"], room)
    assert len(all_ids) == TOTAL, len(all_ids)
    missing = sorted(all_ids - has)
    late = [i for i in missing if i < last["id"]]  # stored late, behind what the reader had seen
    for s in (*sockets, ws):
        await s.close()
    return len(missing), len(late), out_of_order


async def _all_ids(gateway, token, room):
    ids, before = set(), None
    async with httpx.AsyncClient(base_url=gateway.http_url) as h:
        while True:
            params = {"limit": 100, **({"before": before} if before else {})}
            page = (await h.get(f"/rooms/{room}/messages", params=params, headers={"Authorization": f"Bearer {token}"})).json()
            ids |= {m["id"] for m in page["messages"]}
            if not page["hasMore"]:
                return ids
            before = page["messages"][0]["id"]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("functions_in", [FUNCTIONS], indirect=True, ids=lambda f: f.value)
async def test_a_reader_that_drops_and_catches_up_misses_nothing(parley, slow_stores):
    results = []
    async with httpx.AsyncClient(base_url=parley.http_url, timeout=30) as http:
        for run in range(RUNS):
            results.append(await one_run(parley, http, run))
    print(f"\ncatch-up with {CATCH_UP}: missing per run {[m for m, _, _ in results]} "
          f"(of which stored late behind the last id seen: {[l for _, l, _ in results]}; live frames that arrived"
          f" out of id order before the drop: {[o for _, _, o in results]}) over {RUNS} runs of {TOTAL}")
    assert all(m == 0 for m, _, _ in results), results
