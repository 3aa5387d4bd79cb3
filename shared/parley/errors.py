"""The errors the chat reports to clients: a tiny exception with a stable ``code`` and a human ``reason``."""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    INVALID_JSON = "invalid_json"
    UNKNOWN_ACTION = "unknown_action"
    INVALID_REQUEST = "invalid_request"
    NOT_IN_ROOM = "not_in_room"
    INTERNAL_ERROR = "internal_error"
    RATE_LIMITED = "rate_limited"
    SESSION_ENDED = "session_ended"
    FORBIDDEN = "forbidden"
    ROOM_TAKEN = "room_taken"
    NOT_FOUND = "not_found"


class ChatError(Exception):
    """A request the chat refuses; ``reason`` is safe to show the client (never echoes message text)."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(f"{code.value}: {reason}")
        self.code = code
        self.reason = reason


class InvalidRequest(ChatError):
    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.INVALID_REQUEST, reason)


class NotInRoom(ChatError):
    def __init__(self, room: str) -> None:
        super().__init__(ErrorCode.NOT_IN_ROOM, f"join room '{room}' before using it")


class RateLimited(ChatError):
    """Too many frames of one kind from this user (joins: on this connection); nothing was done. Retry after
    ``retry_after_ms``."""

    def __init__(self, what: str, retry_after_ms: int, *, per: str = "from you") -> None:
        seconds = max(1, -(-retry_after_ms // 1000))
        super().__init__(ErrorCode.RATE_LIMITED, f"too many {what} {per}; retry in {seconds} s")
        self.retry_after_ms = retry_after_ms


class TooManyConnections(Exception):
    """The user already has as many open connections as allowed."""


class SessionEnded(ChatError):
    """The connection's token expired or its session was ended: the reply is sent, then the socket closed."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.SESSION_ENDED, "your session has ended; sign in again")


class WeakPassword(InvalidRequest):
    """A password on the blocklist (common, breached-style, or containing the username): 422 with the reason."""


class Forbidden(ChatError):
    """A private or direct room the caller is not a member of (whether or not it exists), or an owner-only
    action by someone else. One reason for every case, so the reply reveals nothing about the room."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.FORBIDDEN, "you are not allowed to do that in this room")


class RoomTaken(ChatError):
    def __init__(self, room: str) -> None:
        super().__init__(ErrorCode.ROOM_TAKEN, f"a room named '{room}' already exists; choose another name")


class UserNotFound(ChatError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.NOT_FOUND, "no user has that username")


class MessageNotFound(ChatError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.NOT_FOUND, "no message of this room has that id")


class UsernameTaken(Exception):
    """Sign-up with a name that already exists (compared case-insensitively)."""


class AuthenticationFailed(Exception):
    """Wrong user name or password: deliberately the same error for both."""


class TooManyAttempts(Exception):
    """Log-ins for this user name are paused after repeated failures."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class TooManySignups(Exception):
    """Too many sign-ups from this source address; nothing was done."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class InvalidToken(Exception):
    """A JWT that is missing, malformed, wrongly signed, expired or lacks a required claim."""


class ConfigurationError(RuntimeError):
    """The environment does not describe a usable deployment (for example a placeholder secret in AWS)."""


class StoreUnavailable(RuntimeError):
    """The database could not be reached in time."""


class StoreRefused(RuntimeError):
    """The database answered but refused the operation for a reason no retry by the client fixes: the deployment
    must (its credentials, its plan). The request fails as any internal error does; the metric says which."""


class StoreAuthFailed(StoreRefused):
    """The database refused the credentials (MongoDB code 18 AuthenticationFailed; Atlas: 8000 "bad auth")."""


class StoreOverQuota(StoreRefused):
    """The database refused a write over the plan's storage (Atlas: 8000 AtlasError "over your space quota")."""


class ReplyTooLarge(ChatError):
    """A payload over API Gateway's 128 KB message limit (``parley.wire``): it is never posted, so the caller
    gets this error instead of nothing. Lists are cut to fit before that; reaching this is a server bug."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(ErrorCode.INTERNAL_ERROR, f"the reply ({size} bytes) is over the {limit}-byte message limit")
        self.size = size
