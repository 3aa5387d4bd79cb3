"""Ending a session on the sockets too: its connection records are marked ended (every later frame is refused
and no broadcast reaches them, were the close lost) and API Gateway is asked to close them (``DELETE
@connections/{id}``), so they go within seconds even if they never send another frame."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from parley.ports import DeliveryReport

log = logging.getLogger("parley.sessions")


class SessionConnections(Protocol):
    def end_sessions(self, *, user_id: str, session_id: str | None = None, keep: str | None = None) -> list[str]:
        """Mark the matching connections ended; returns their ids."""


class Closer(Protocol):
    def close(self, *, connection_ids: Sequence[str]) -> DeliveryReport: ...


def close_sessions(
    connections: SessionConnections,
    closer: Closer | None,
    *,
    user_id: str,
    session_id: str | None = None,
    keep: str | None = None,
) -> int:
    """End the user's connections of ``session_id`` (or of every session but ``keep``); returns how many
    were closed or already gone. Without a closer (no Management API endpoint) they are only marked."""
    ids = connections.end_sessions(user_id=user_id, session_id=session_id, keep=keep)
    if not ids or closer is None:
        return 0
    report = closer.close(connection_ids=ids)
    if report.failed:
        log.warning("could not close every connection of an ended session", extra={"failed": len(report.failed)})
    return report.delivered + len(report.gone)
