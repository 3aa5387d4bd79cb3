"""The bytes of an outgoing WebSocket message, and API Gateway's limit on them. No I/O here.

API Gateway's WebSocket quotas: a message is at most **128 KB** and travels in frames of at most 32 KB
(API Gateway splits what ``@connections`` posts into frames itself). A ``POST @connections/{id}`` whose
body is bigger is refused with 413 ``PayloadTooLargeException`` and the client gets nothing. The limit
counts the bytes of the message payload: the UTF-8 JSON body Parley posts. AWS does not say whether its
KB is 1,000 or 1,024 bytes, so Parley keeps every payload within ``MAX_PAYLOAD_BYTES`` = 128,000 bytes,
the stricter reading.

Every payload the chat sends is encoded by ``encode`` (the broadcaster posts exactly these bytes), so the
chat can measure a reply before it sends it and cut lists (a history page, a room's users) to fit. A send
encodes its payload once, into a ``Frame``: the chat checks the frame's size and hands the same frame to the
broadcaster, which posts its bytes as they are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

MAX_PAYLOAD_BYTES = 128_000


def encode(payload: dict) -> bytes:
    """Compact UTF-8 JSON; \\u-escaped where a string holds a lone surrogate (never an exception)."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(payload, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True, slots=True)
class Frame:
    """One outgoing message, encoded: ``body`` is ``encode(payload)``, the bytes every recipient is posted."""

    body: bytes

    @classmethod
    def of(cls, payload: dict) -> Frame:
        return cls(encode(payload))

    @property
    def size(self) -> int:
        return len(self.body)


def size(payload: dict) -> int:
    """The number of bytes ``encode(payload)`` posts."""
    return len(encode(payload))


def fitting(
    envelope: dict, key: str, items: Sequence[dict], *, from_end: bool = False, budget: int = MAX_PAYLOAD_BYTES
) -> int:
    """How many of ``items`` fit as ``envelope[key]`` so that the encoded payload is at most ``budget`` bytes.

    Counts from the start of ``items`` (or from the end when ``from_end``): the answer ``n`` means
    ``items[:n]`` (or ``items[len(items) - n:]``) fits and one more would not. 0 when not even the first
    fits. ``envelope`` is measured with ``key`` set, in its place, so every other field counts as sent.
    """
    base = size({**envelope, key: []})
    ordered = list(reversed(items)) if from_end else list(items)
    total, count = base, 0
    for item in ordered:
        grown = total + size(item) + (1 if count else 0)  # the comma between list items
        if grown > budget:
            break
        total, count = grown, count + 1
    # Items measured one by one are exact unless the whole falls back to \u escapes (a lone surrogate
    # somewhere): then check the real encoding and give up items until it fits.
    while count and size({**envelope, key: _take(ordered, count, from_end)}) > budget:
        count -= 1
    return count


def _take(ordered: list[dict], count: int, from_end: bool) -> list[dict]:
    part = ordered[:count]
    return list(reversed(part)) if from_end else part
