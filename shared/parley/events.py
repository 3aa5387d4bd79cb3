"""API Gateway WebSocket events, parsed into a typed object (fields as real API Gateway sends them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote, unquote

from parley.errors import InvalidRequest
from parley.model import UserRef, valid_display_name
from parley.ports import Caller


class InvalidEvent(ValueError):
    """The Lambda event is not an API Gateway WebSocket event."""


@dataclass(frozen=True, slots=True)
class WebSocketEvent:
    route_key: str
    event_type: str
    connection_id: str
    request_id: str
    request_context: dict = field(repr=False)
    body: str | None = field(default=None, repr=False)
    connected_at: datetime | None = None
    authorizer: dict = field(default_factory=dict, repr=False)
    headers: dict = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, event: object) -> WebSocketEvent:
        if not isinstance(event, dict) or not isinstance(event.get("requestContext"), dict):
            raise InvalidEvent("expected an API Gateway WebSocket event with a requestContext")
        rc = event["requestContext"]
        connection_id = rc.get("connectionId")
        if not isinstance(connection_id, str) or not connection_id:
            raise InvalidEvent("requestContext.connectionId is missing")
        connected_at = rc.get("connectedAt")
        body = event.get("body")
        if body is not None and not isinstance(body, str):
            raise InvalidEvent("body must be a string")
        if body is not None and event.get("isBase64Encoded"):
            body = None  # binary frames are not part of the protocol; parse() reports an empty frame
        return cls(
            route_key=str(rc.get("routeKey", "")),
            event_type=str(rc.get("eventType", "")),
            connection_id=connection_id,
            request_id=str(rc.get("requestId", "")),
            request_context=rc,
            body=body,
            connected_at=(
                datetime.fromtimestamp(connected_at / 1000, timezone.utc)
                if isinstance(connected_at, (int, float)) and not isinstance(connected_at, bool)
                else None
            ),
            authorizer=rc.get("authorizer") if isinstance(rc.get("authorizer"), dict) else {},
            headers=event.get("headers") if isinstance(event.get("headers"), dict) else {},
        )

    @property
    def caller(self) -> Caller | None:
        """The user the REQUEST authorizer let in (its context reaches every event of the connection)."""
        user_id, username = self.authorizer.get("userId"), self.authorizer.get("username")
        if isinstance(user_id, str) and user_id and isinstance(username, str) and username:
            session_id = self.authorizer.get("sessionId")
            return Caller(
                self.connection_id,
                UserRef(id=user_id, username=username, display_name=_display_name(self.authorizer.get("displayName"))),
                self.connected_at,
                session_id=session_id if isinstance(session_id, str) and session_id else None,
                token_expires_at=_epoch(self.authorizer.get("tokenExp")),
            )
        return None


def context_display_name(name: str) -> str:
    """A display name as the authorizer puts it in its context: percent-encoded UTF-8, so only ASCII crosses API
    Gateway (context values are strings, numbers or booleans; what it does with other characters is not
    documented, and "zoë" must not arrive as "zoÃ«")."""
    return quote(name, safe="")


def _display_name(value: object) -> str | None:
    """The authorizer context's ``displayName`` (``context_display_name`` of the user record's, valid when
    stored); anything else is none."""
    if not isinstance(value, str) or not value or not value.isascii():
        return None
    try:
        return valid_display_name(unquote(value, errors="strict"))
    except (InvalidRequest, UnicodeDecodeError):
        return None


def _epoch(value: object) -> datetime | None:
    """The authorizer context's ``tokenExp`` (epoch seconds; context values arrive as strings)."""
    try:
        return datetime.fromtimestamp(int(str(value)), timezone.utc) if value not in (None, "") else None
    except (ValueError, OverflowError, OSError):
        return None
