"""MongoDB adapter for ``parley.ports.SignupThrottle``: sign-ups per source address, in the ``signups`` collection.

One document per address: ``_id`` (the address), ``times`` (the last sign-ups' times, a log as in
``parley.limits``) and ``expiresAt`` (a TTL index forgets an address one window after its last sign-up). Kept apart
from the log-in lock-out (``mongo_accounts.MongoLoginAttempts``): a sign-up is limited, not locked out.
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument

from parley.adapters.mongo import _aware, _call_lock, _guarded
from parley.limits import RateLimit


@_guarded
class MongoSignupThrottle:
    def __init__(self, db) -> None:
        self._c = db.signups
        self._call_lock = _call_lock(db)
        self._db = db  # a RenewableDatabase: _guarded renews its client

    def count(self, *, source_ip: str, now: datetime, limit: RateLimit) -> int | None:
        # one entry more than the limit, so taking back this sign-up's entry below keeps the last `count`
        before = self._c.find_one_and_update(
            {"_id": source_ip},
            {"$push": {"times": {"$each": [now], "$slice": -(limit.count + 1)}},
             "$max": {"expiresAt": now + limit.window}},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        times = [_aware(t) for t in (before or {}).get("times") or ()]
        wait = limit.retry_after_ms(times[-limit.count:], now) if times else None
        if wait is not None:  # over the limit: not counted (only on this, the refused path)
            self._c.update_one({"_id": source_ip}, {"$pop": {"times": 1}})
        return wait
