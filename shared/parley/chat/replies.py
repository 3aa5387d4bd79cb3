"""Replies that carry a list, cut to fit one API Gateway message (``parley.wire``: 128,000 bytes).

A history page keeps the messages nearest its cursor and drops the farthest, with ``hasMore`` true, so the
client's next request (``before`` = the page's first id, or ``after`` = its last id) continues exactly at
the cut: no message is skipped or repeated. A ``joined`` reply keeps the first users by name and adds
``"hasMore": true``; the full list is ``GET /rooms/{room}/presence``.

One message always fits: text is at most 4,000 code points, 6 bytes each at worst once JSON-escaped
(12 if the whole payload falls back to \\u escapes), far below the limit (tests/test_reply_size.py).
"""

from __future__ import annotations

from parley import wire
from parley.model import HistoryPage


def history_frame(page: HistoryPage, *, newest_first: bool) -> dict:
    """The ``history`` reply for ``page``; ``newest_first`` when the page was read back from its cursor
    (no cursor, or ``before``), so its newest messages are the ones to keep."""
    messages = [m.to_json() for m in page.messages]
    frame = {"type": "history", "room": page.room, "messages": messages, "hasMore": False}  # false: the longer
    keep = wire.fitting(frame, "messages", messages, from_end=newest_first)
    if keep == len(messages):
        frame["hasMore"] = page.has_more
        return frame
    keep = max(keep, 1)  # never an empty page with hasMore (a client would ask again forever)
    frame["messages"] = messages[len(messages) - keep :] if newest_first else messages[:keep]
    frame["hasMore"] = True
    return frame


def joined_frame(room: str, users: list[dict]) -> dict:
    """The ``joined`` reply: every user online in ``room``, or as many as fit with ``"hasMore": true``."""
    frame = {"type": "joined", "room": room, "users": users}
    if wire.size(frame) <= wire.MAX_PAYLOAD_BYTES:
        return frame
    frame["hasMore"] = True
    frame["users"] = users[: wire.fitting(frame, "users", users)]
    return frame
