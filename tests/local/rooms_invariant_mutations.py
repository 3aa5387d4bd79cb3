"""Proof that the invariant test can fail: remove the membership check from one path at a time, run the
table's rows for that path, expect a failure, put the code back.

    .venv/bin/python -m tests.local.rooms_invariant_mutations [name ...]

Edits the source files in place and restores them (also on Ctrl-C); run it on a clean tree. Not collected
by pytest (the file name does not start with test_). Exit status 0 only if every mutation was caught.

Checks the table cannot reach, and where they are tested instead: the owner-only half of removeMember (an
outsider is refused by the membership check first; tests/test_rooms_contract.py
test_member_removes_themself_but_not_others); the second membership read in join and the member filters on
presence, typing and messages, which close races with a concurrent removal: tests/test_rooms_contract.py
stages those races (test_join_that_loses_a_race_with_removal_is_undone,
test_a_connection_left_in_the_room_by_a_racing_removal_gets_nothing) and fails without each guard.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "shared/parley/chat/service.py"
ROOMS = "shared/parley/chat/rooms.py"
MESSAGES = "shared/parley/chat/messages.py"

# name, the table rows it must break (-k), file, the check as written, the same line without the check
MUTATIONS = [
    ("join", "join", SERVICE,
     "    access = room_access(ports.rooms, user_id=caller.user.id, room=room, create_public_at=now)\n",
     "    access = Access(kind=Kind.PUBLIC)\n"),
    ("history + HTTP messages (one service function)", "history or http_messages", SERVICE,
     "    room_access(ports.rooms, user_id=user_id, room=room)\n    return ports.messages.page(",
     "    return ports.messages.page("),
    ("sendMessage", "sendMessage", SERVICE,
     "    access = room_access(ports.rooms, user_id=caller.user.id, room=room)\n    if access.kind is Kind.PUBLIC and room not in connection.rooms:",
     "    access = Access(kind=ports.rooms.get(room=room).kind)\n    if access.kind is Kind.PUBLIC and room not in connection.rooms:"),
    ("typing", "typing", SERVICE,
     "    access = room_access(ports.rooms, user_id=caller.user.id, room=room)\n    signal =",
     "    access = Access(kind=ports.rooms.get(room=room).kind)\n    signal ="),
    ("HTTP presence", "http_presence", SERVICE,
     "    access = room_access(ports.rooms, user_id=user_id, room=room)\n    return online_users(",
     "    access = Access(kind=ports.rooms.get(room=room).kind)\n    return online_users("),
    ("markRead", "markRead", ROOMS,
     "        room_access(ports.rooms, user_id=caller.user.id, room=room)  # Forbidden unless the room is public\n",
     ""),
    ("addMember (owner, hence member)", "addMember", ROOMS,
     "    if found is None or found.kind is not Kind.PRIVATE or found.owner is None or found.owner.id != caller.user.id:",
     "    if found is None or found.kind is not Kind.PRIVATE:"),
    ("removeMember", "removeMember", ROOMS,
     "    access = room_access(ports.rooms, user_id=caller.user.id, room=room)\n    if access.membership is None:",
     "    access = ACCESS(kind=ports.rooms.get(room=room).kind, membership=True)\n    if access.membership is None:"),
    ("HTTP rooms (the list is the caller's memberships)", "http_rooms", ROOMS,
     "    memberships = {m.room: m for m in ports.rooms.memberships_of(user_id=user_id)}",
     "    memberships = {m.room: m for u in ports.rooms._members.distinct('userId')"
     " for m in ports.rooms.memberships_of(user_id=u)}"),
]
MUTATIONS += [  # issue 21
    ("editMessage, deleteMessage, react, unreact (one check)", "editMessage or deleteMessage or react", MESSAGES,
     "    access = _count_send(ports, caller, room)\n    if access.kind is Kind.DIRECT:",
     "    access = Access(kind=ports.rooms.get(room=room).kind)\n    if access.kind is Kind.DIRECT:"),
    ("sync", "sync_catch_up", MESSAGES,
     "    room_access(ports.rooms, user_id=user_id, room=room, must_exist=True)\n    now = ports.clock()",
     "    now = ports.clock()"),
]
ACCESS = "__import__('parley.chat.access', fromlist=['Access']).Access"


def run(name: str, select: str, path: str, old: str, new: str) -> bool:
    file = ROOT / path
    original = file.read_text()
    assert original.count(old) == 1, f"{name}: the check is not written as expected in {path}"
    try:
        file.write_text(original.replace(old, new.replace("ACCESS", ACCESS)))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/local/test_rooms_invariant_e2e.py", "-q", "-x",
             "-p", "no:cacheprovider", "-k", select],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
        )
    finally:
        file.write_text(original)
    caught = result.returncode == 1 and " failed" in result.stdout
    lines = result.stdout.strip().splitlines()
    summary = lines[-1] if lines else result.stderr[-300:]
    failed = next((ln for ln in lines if ln.startswith("FAILED")), "")
    reason = next((ln[:160] for ln in lines if ln.startswith("E ")), "")
    print(f"{'caught' if caught else 'NOT CAUGHT':>10}  {name}: {summary}\n            {failed}\n            {reason}", flush=True)
    return caught


def main(names: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not names or any(n in m[0] for n in names)]
    results = [run(*m) for m in chosen]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
