"""The limits a client checks before it sends, as GET /config.json serves them to the web page.

Built from the constants the server validates with (parley.model), so the page never writes one of them
again: a limit changed there changes what the page enforces and what its hints say. No I/O here.
"""

from __future__ import annotations

from datetime import timedelta

from parley.model import (
    DEFAULT_HISTORY_LIMIT,
    DIRECT_PATTERN,
    DISPLAY_NAME_MAX,
    MAX_CLIENT_MSG_ID,
    MAX_HISTORY_LIMIT,
    MAX_ROOMS_PER_CONNECTION,
    MAX_TEXT,
    PASSWORD_MAX,
    PASSWORD_MIN,
    ROOM_NAME_MAX,
    ROOM_PATTERN,
    TYPING_EXPIRES,
    TYPING_INTERVAL,
    USERNAME_MAX,
    USERNAME_MIN,
    USERNAME_PATTERN,
)


def _ms(duration: timedelta) -> int:
    return int(duration.total_seconds() * 1000)


def client_limits() -> dict:
    """The ``limits`` object of /config.json (patterns are anchored, and mean the same in JavaScript)."""
    return {
        "username": {"minLength": USERNAME_MIN, "maxLength": USERNAME_MAX, "pattern": USERNAME_PATTERN},
        "password": {"minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX},
        "displayName": {"maxLength": DISPLAY_NAME_MAX},  # code points after NFC and trimming
        "room": {"maxLength": ROOM_NAME_MAX, "pattern": ROOM_PATTERN, "directPattern": DIRECT_PATTERN},
        "text": {"maxLength": MAX_TEXT},
        "clientMsgId": {"maxLength": MAX_CLIENT_MSG_ID},
        "history": {"pageSize": DEFAULT_HISTORY_LIMIT, "maxPageSize": MAX_HISTORY_LIMIT},
        "roomsPerConnection": MAX_ROOMS_PER_CONNECTION,
        "typing": {"intervalMs": _ms(TYPING_INTERVAL), "expiresMs": _ms(TYPING_EXPIRES)},
    }
