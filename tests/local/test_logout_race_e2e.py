"""Issue 22 §1 over real sockets through the local gateway: no socket opened during a log-out outlives it.

Each trial opens 10 WebSockets with one token, 4 ms apart, and ends that token's session (log-out, log-out
everywhere, or a password change from another session) while they are being opened. Whatever the interleaving
of the authorizer, ``$connect`` and the ending, afterwards every socket must be refused, closed, or (its close
lost: a ``DELETE @connections`` that came while API Gateway was still opening it) unable to do anything but be
told ``session_ended`` and closed; nothing it sends may be stored.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

PASSWORDS = ("correct horse 1", "battery staple 22")  # a password change alternates between them
TRIALS = 20  # per way of ending a session
SOCKETS = 10
GAP_S = 0.004
END_AFTER = 4  # the ending is sent after this many sockets were started: it lands among the handshakes
TRIAL_BUDGET_S = 60.0  # per kind: the trials stop early (and fail for too few) rather than run on


@dataclass
class Tally:
    refused: int = 0  # handshake refused (authorizer Deny, or $connect seeing the ended session)
    # handshake refused with 500: the local runtime runs one function's invocations concurrently on threads of one
    # module (Lambda never does), and Powertools' module-level Metrics, flushed by one, can leave another's
    # log_metrics with none ("Must contain at least one metric"). Refused all the same, so not a survivor; counted
    # and bounded so that a $connect that fails every time cannot pass for one that refuses.
    refused_by_error: int = 0
    closed: int = 0  # opened, then closed by the ending (DELETE @connections)
    closed_at_first_frame: int = 0  # opened and not closed (the close was lost), but dead: session_ended, then closed
    survivors: list[str] = field(default_factory=list)  # opened, and usable after the ending answered
    trials: int = 0


async def _open(url: str):
    try:
        return await websockets.connect(url, open_timeout=10)
    except InvalidStatus as exc:
        return exc.response.status_code


async def _closes_soon(ws, seconds: float) -> bool:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), seconds)
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False


async def _probe(ws, text: str) -> tuple[bool, list[dict]]:
    """Try to use a socket still open after the ending: join a room and send a message. Returns (closed, frames)."""
    frames: list[dict] = []
    try:
        await ws.send(json.dumps({"action": "join", "room": "general"}))
        await ws.send(json.dumps({"action": "sendMessage", "room": "general", "text": text, "clientMsgId": text}))
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 3)))
    except ConnectionClosed:
        return True, frames
    except TimeoutError:
        return False, frames


async def _trial(parley, http: httpx.AsyncClient, kind: str, username: str, n: int, tally: Tally,
                 lead_s: float = 0.0) -> float:
    """One trial; returns how long the ending took to answer. With ``lead_s``, the ending is sent that long before
    the first socket (a password change first spends ~0.1 s on argon2, then ends the sessions), else after
    ``END_AFTER`` sockets."""
    password = PASSWORDS[n % 2] if kind == "password" else PASSWORDS[0]
    r = await http.post("/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    if kind == "password":  # another session of the user changes the password: the sockets' session ends
        r = await http.post("/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        other = r.json()["token"]
        end = http.post("/auth/password", headers={"Authorization": f"Bearer {other}"},
                        json={"currentPassword": password, "newPassword": PASSWORDS[(n + 1) % 2]})
    else:
        end = http.post(f"/auth/{kind}", headers={"Authorization": f"Bearer {token}"})

    async def timed():
        started = time.monotonic()
        response = await end
        return response, time.monotonic() - started

    url = f"{parley.ws_url}?token={token}"
    opening, ending = [], None
    if lead_s > 0:
        ending = asyncio.create_task(timed())
        await asyncio.sleep(lead_s)
    for i in range(SOCKETS):
        opening.append(asyncio.create_task(_open(url)))
        if i == END_AFTER and ending is None:
            ending = asyncio.create_task(timed())
        await asyncio.sleep(GAP_S)
    assert ending is not None
    opened = await asyncio.gather(*opening)
    response, took = await ending
    assert response.status_code == 204, response.text
    await asyncio.sleep(0.3)  # the ending's DELETEs are answered before it returns; the closes follow at once
    for i, ws in enumerate(opened):
        if isinstance(ws, int):
            assert ws in (403, 500), f"a handshake refused with {ws}"
            if ws == 500:
                tally.refused_by_error += 1
            else:
                tally.refused += 1
            continue
        if await _closes_soon(ws, 0.2):
            tally.closed += 1
            continue
        text = f"race-{kind}-{n}-{i}"
        closed, frames = await _probe(ws, text)
        if closed and all(f.get("type") == "error" and f.get("code") == "session_ended" for f in frames):
            tally.closed_at_first_frame += 1
        else:
            tally.survivors.append(f"trial {n} socket {i}: closed={closed} frames={[f.get('type') for f in frames]}")
            await ws.close()
    tally.trials += 1
    return took


async def _run(parley, kind: str) -> Tally:
    username = f"race_{kind.replace('-', '_')}"
    tally = Tally()
    async with httpx.AsyncClient(base_url=parley.http_url, timeout=30) as http:
        r = await http.post("/auth/signup", json={"username": username, "password": PASSWORDS[0]})
        assert r.status_code == 201, r.text
        took, started = 0.0, time.monotonic()
        for n in range(TRIALS):
            # a password change lands its write about `took` after it is sent: aim it at the handshakes, a little
            # earlier or later each trial (-16 ms to +16 ms)
            lead = max(0.0, took - SOCKETS * GAP_S + (n % 5 - 2) * 0.008) if kind == "password" else 0.0
            took = await _trial(parley, http, kind, username, n, tally, lead)
            if time.monotonic() - started > TRIAL_BUDGET_S:
                break
    from parley.adapters import mongo  # the functions' copy: imported once they are loaded

    db = mongo.database(parley.function_env["AuthFunction"]["MONGODB_URI"], parley.function_env["AuthFunction"]["MONGODB_DB"])
    stored = db.messages.count_documents({"text": {"$regex": f"^race-{kind}-"}})
    print(f"\n{kind}: {tally.trials} trials × {SOCKETS} sockets: refused {tally.refused} (and {tally.refused_by_error} with 500), closed {tally.closed}, "
          f"closed at their first frame {tally.closed_at_first_frame}, survivors {len(tally.survivors)}, "
          f"messages stored by ended sockets {stored}")
    assert stored == 0, f"{stored} message(s) stored by sockets of an ended session"
    return tally


@pytest.mark.parametrize("kind", ["logout", "logout-all", "password"])
async def test_no_socket_opened_during_the_end_of_its_session_outlives_it(parley, kind):
    tally = await _run(parley, kind)
    assert tally.trials >= TRIALS // 2, f"only {tally.trials} trials in {TRIAL_BUDGET_S} s"
    assert tally.refused > 0 and tally.closed > 0, "every trial fell on the same side of the ending"
    assert tally.refused_by_error <= SOCKETS, f"{tally.refused_by_error} handshakes failed with 500"
    assert tally.survivors == [], f"{len(tally.survivors)} socket(s) outlived the session: {tally.survivors}"
