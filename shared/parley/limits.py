"""Rate limits per user (and the join limit per connection), and the per-user connection cap: plain values and the
arithmetic. No I/O here. This is the one place where limits live: ``Settings.limits`` fills them from the
environment, which template.yaml's parameters set.

A rate limit is a sliding window kept as a log: the times of the last ``count`` uses of one kind. The per-user
kinds (``PER_USER``: sendMessage, typing, createRoom, openDirect, addMember, history) are logged on the user's rate
record, shared by all their connections, so opening more sockets buys no more; joins on the connection's record
(a reconnecting page re-joins its rooms on each socket). A use is allowed when fewer than ``count`` of the logged
uses fall within the last ``window``; then its time is appended and the log trimmed to ``count`` entries (MongoDB's
``$push`` with ``$each``/``$slice``), in the same update that already reads or writes the connection's record (the
adapter's ``MongoConnectionStore._use``), so checking costs no extra round trip. Refused uses are not logged: a
client that waits ``retryAfterMs`` is let through, whatever it tried meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone


@dataclass(frozen=True, slots=True)
class RateLimit:
    count: int
    window: timedelta

    def retry_after_ms(self, log: Iterable[datetime], now: datetime) -> int | None:
        """None when one more use is allowed now; else how long until it is (ms, at least 1)."""
        recent = sorted(t for t in (_aware(t) for t in log) if t > now - self.window)
        if len(recent) < self.count:
            return None
        # the use that has to leave the window before another fits
        frees_at = recent[len(recent) - self.count] + self.window
        return max(1, math.ceil((frees_at - now).total_seconds() * 1000))


def _window(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


SIGNUP_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Limits:
    """The defaults here are the template's (template.yaml Parameters, documented in the README)."""

    send: RateLimit = field(default_factory=lambda: RateLimit(30, _window(30)))  # per user
    typing: RateLimit = field(default_factory=lambda: RateLimit(30, _window(30)))  # per user
    join: RateLimit = field(default_factory=lambda: RateLimit(60, _window(30)))  # per connection
    create_room: RateLimit = field(default_factory=lambda: RateLimit(10, _window(30)))  # per user
    open_direct: RateLimit = field(default_factory=lambda: RateLimit(30, _window(30)))  # per user
    add_member: RateLimit = field(default_factory=lambda: RateLimit(30, _window(30)))  # per user
    # per user; a reconnecting page asks each of its rooms (up to 50) for what it missed
    history: RateLimit = field(default_factory=lambda: RateLimit(120, _window(30)))
    connections_per_user: int = 10
    # sign-ups per source address (POST /auth/signup); the window is an hour, whatever RATE_LIMIT_WINDOW_SECONDS
    signup: RateLimit = field(default_factory=lambda: RateLimit(20, SIGNUP_WINDOW))

    def per_user(self, kind: str) -> RateLimit:
        """The limit of one of the ``PER_USER`` kinds."""
        if kind not in PER_USER:
            raise ValueError(f"no per-user limit for {kind!r}")
        return getattr(self, kind)


PER_USER = ("send", "typing", "create_room", "open_direct", "add_member", "history")


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
