"""MongoDB adapters for accounts: users with their live sessions (``UserStore``) and failed log-ins counted
under three keys (``LoginAttempts``). The shared client, the call lock and the indexes are parley.adapters.mongo's.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.read_concern import ReadConcern

from parley.adapters.mongo import TIMEOUT_MS, _aware, _call_lock, _guarded
from parley.errors import UsernameTaken
from parley.model import UserRef, utcnow
from parley.ports import StoredUser
from parley.usernames import skeleton


# ---------------------------------------------------------------- users
@_guarded
class MongoUserStore:
    def __init__(self, db) -> None:
        self._c = db.users
        # $connect's re-read of its session (session_live): "linearizable" reflects every majority-acknowledged
        # write that completed before it started, even on a primary that was just deposed (docs/reliability.md,
        # "A socket opened during a log-out"); it needs a filter on one document, which _id is
        self._linearizable = self._c.with_options(read_concern=ReadConcern("linearizable"))
        self._call_lock = _call_lock(db)
        self._db = db  # a RenewableDatabase: _guarded renews its client

    @staticmethod
    def _from(doc: dict | None) -> StoredUser | None:
        if doc is None:
            return None
        return StoredUser(
            id=doc["_id"],
            username=doc["username"],
            display_name=doc.get("displayName") or None,
            password_hash=doc["passwordHash"],
            created_at=_aware(doc["createdAt"]),
            sessions={s["id"]: _aware(s["expiresAt"]) for s in doc.get("sessions") or () if "id" in s},
            blocked=tuple(UserRef.of(b) for b in doc.get("blocked") or ()),
        )

    def create(self, *, username: str, password_hash: str, display_name: str | None = None) -> StoredUser:
        doc = {
            "_id": uuid.uuid4().hex,
            "username": username,
            "usernameKey": username.lower(),
            "usernameSkeleton": skeleton(username),
            "passwordHash": password_hash,
            "createdAt": utcnow(),
            **({"displayName": display_name} if display_name else {}),
        }
        try:
            self._c.insert_one(doc)
        except DuplicateKeyError:
            raise UsernameTaken(username) from None
        return self._from(doc)

    def by_username(self, *, username: str) -> StoredUser | None:
        return self._from(self._c.find_one({"usernameKey": username.lower()}))

    def by_id(self, *, user_id: str) -> StoredUser | None:
        return self._from(self._c.find_one({"_id": user_id}))

    def block(self, *, user_id: str, other: UserRef, limit: int) -> bool:
        # the size bound and "not yet blocked" in the filter: a repeat or a full list matches nothing
        found = self._c.find_one_and_update(
            {"_id": user_id, "blocked.id": {"$ne": other.id}, f"blocked.{limit - 1}": {"$exists": False}},
            {"$push": {"blocked": other.to_json()}},
            projection={"_id": 1},
        )
        if found is not None:
            return True
        return self._c.find_one({"_id": user_id, "blocked.id": other.id}, {"_id": 1}) is not None

    def unblock(self, *, user_id: str, other_id: str) -> None:
        self._c.update_one({"_id": user_id}, {"$pull": {"blocked": {"id": other_id}}})

    def set_display_name(self, *, user_id: str, display_name: str | None) -> StoredUser | None:
        change = {"$set": {"displayName": display_name}} if display_name else {"$unset": {"displayName": ""}}
        return self._from(self._c.find_one_and_update({"_id": user_id}, change, return_document=ReturnDocument.AFTER))

    def update_password_hash(self, *, user_id: str, password_hash: str) -> None:
        self._c.update_one({"_id": user_id}, {"$set": {"passwordHash": password_hash}})

    def start_session(self, *, user_id: str, session_id: str, expires_at: datetime, now: datetime) -> None:
        # expired sessions go first (one array cannot be pulled from and pushed to in one update), then the
        # newest MAX_SESSIONS are kept: the list stays bounded however many log-ins there are
        self._c.update_one({"_id": user_id}, {"$pull": {"sessions": {"expiresAt": {"$lte": now}}}})
        entry = {"id": session_id, "expiresAt": expires_at}
        self._c.update_one({"_id": user_id}, {"$push": {"sessions": {"$each": [entry], "$slice": -MAX_SESSIONS}}})

    def renew_session(self, *, user_id: str, session_id: str, expires_at: datetime) -> bool:
        found = self._c.find_one_and_update(
            {"_id": user_id, "sessions.id": session_id},
            {"$max": {"sessions.$.expiresAt": expires_at}},  # never earlier: a session cookie may outlive tokens
            projection={"_id": 1},
        )
        return found is not None

    def session_live(self, *, user_id: str, session_id: str) -> bool:
        found = self._linearizable.find_one({"_id": user_id, "sessions.id": session_id}, {"_id": 1},
                                            max_time_ms=TIMEOUT_MS)  # MongoDB: always with maxTimeMS
        return found is not None

    def end_sessions(self, *, user_id: str, session_id: str | None = None, keep: str | None = None) -> None:
        if session_id is not None:
            self._c.update_one({"_id": user_id}, {"$pull": {"sessions": {"id": session_id}}})
        elif keep is not None:
            self._c.update_one({"_id": user_id}, {"$pull": {"sessions": {"id": {"$ne": keep}}}})
        else:
            self._c.update_one({"_id": user_id}, {"$set": {"sessions": []}})

    def change_password(self, *, user_id: str, password_hash: str, keep: str) -> None:
        self._c.update_one(
            {"_id": user_id}, {"$set": {"passwordHash": password_hash}, "$pull": {"sessions": {"id": {"$ne": keep}}}}
        )


MAX_SESSIONS = 20  # live sessions (signed-in devices) per user; a 21st log-in ends the oldest


# ---------------------------------------------------------------- failed log-ins
FREE_FAILURES = 5  # failures allowed before any pause
MAX_PAUSE = timedelta(minutes=5)
FORGET_AFTER = timedelta(hours=1)
# Failures are counted under three keys (docs/reliability.md, "Login throttling"): the free failures of each
# before its pause starts, 1 s and doubling to MAX_PAUSE. A success forgets only its (name, address) pair.
FREE_PER_PAIR = FREE_FAILURES  # one client typing one name: a few typos are free
FREE_PER_ADDRESS = 20  # one address across names (password spraying); NAT-shared addresses get some room
FREE_PER_NAME = 100  # one name from every address (a distributed attack): far above what typos reach
# A known device (a valid device cookie for the name, parley.devices) is counted under its nonce alone, with the
# pair's thresholds: the per-name lock-out an attacker elsewhere triggers does not stop it, and a stolen cookie
# buys the same few guesses as one address, then pauses only that cookie.
FREE_PER_DEVICE = FREE_PER_PAIR


def login_pause(failures: int, free: int = FREE_FAILURES) -> timedelta:
    """No pause for the first ``free`` failures, then 1 s, 2 s, 4 s … up to five minutes."""
    if failures <= free:
        return timedelta(0)
    return min(MAX_PAUSE, timedelta(seconds=2 ** min(failures - free - 1, 16)))


def _throttle_keys(username: str, source_ip: str, device: str | None = None) -> dict[str, int]:
    if device is not None:
        return {f"device:{device[:64]}": FREE_PER_DEVICE}
    name, addr = username.lower(), source_ip[:64]
    return {f"pair:{name}@{addr}": FREE_PER_PAIR, f"addr:{addr}": FREE_PER_ADDRESS, f"name:{name}": FREE_PER_NAME}


@_guarded
class MongoLoginAttempts:
    def __init__(self, db) -> None:
        self._c = db.login_failures
        self._call_lock = _call_lock(db)
        self._db = db  # a RenewableDatabase: _guarded renews its client

    def locked_until(self, *, username: str, source_ip: str, device: str | None = None) -> datetime | None:
        """The latest pause of the three counters, or of the device's one (one read)."""
        keys = list(_throttle_keys(username, source_ip, device))
        untils = [_aware(d["lockedUntil"]) for d in self._c.find({"_id": {"$in": keys}}, {"lockedUntil": 1})
                  if d.get("lockedUntil")]
        return max(untils, default=None)

    def record_failure(
        self, *, username: str, source_ip: str, now: datetime, device: str | None = None
    ) -> datetime | None:
        latest = None
        for key, free in _throttle_keys(username, source_ip, device).items():
            doc = self._c.find_one_and_update(
                {"_id": key},
                {"$inc": {"count": 1}, "$set": {"expiresAt": now + FORGET_AFTER}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            pause = login_pause(doc["count"], free)
            if pause:
                until = now + pause
                self._c.update_one({"_id": key}, {"$set": {"lockedUntil": until}})
                latest = max(latest or until, until)
        return latest

    def reset(self, *, username: str, source_ip: str, device: str | None = None) -> None:
        pair = next(iter(_throttle_keys(username, source_ip, device)))  # the pair's, or the device's
        self._c.delete_one({"_id": pair})
