"""Per-connection rate limits and the per-user connection cap: plain values and the arithmetic. No I/O here.

A rate limit is a sliding window kept as a log: the times of the last ``count`` uses of one kind on a
connection, stored on the connection's own record. A use is allowed when fewer than ``count`` of the logged
uses fall within the last ``window``; then its time is appended and the log trimmed to ``count`` entries
(MongoDB's ``$push`` with ``$each``/``$slice``), in the same atomic update that already reads the record, so
checking costs no extra round trip. Refused uses are not logged: a client that waits ``retryAfterMs`` is let
through, whatever it tried meanwhile. With the per-user connection cap, a user's rate is at most
``connections_per_user`` times a connection's.
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


@dataclass(frozen=True, slots=True)
class Limits:
    """The defaults here are the template's (template.yaml Parameters, documented in the README)."""

    send: RateLimit = field(default_factory=lambda: RateLimit(30, _window(30)))
    typing: RateLimit = field(default_factory=lambda: RateLimit(30, _window(30)))
    join: RateLimit = field(default_factory=lambda: RateLimit(60, _window(30)))
    connections_per_user: int = 10


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
