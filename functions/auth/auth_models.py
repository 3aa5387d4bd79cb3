"""The HTTP API's request and response bodies (pydantic models; docs/openapi.json is written from them).

A sibling module of app.py: Lambda puts the function's directory (CodeUri functions/auth/) on sys.path, so
app.py imports it as the top-level ``auth_models`` (named after the function, so that no other function's
sibling module of the same plain name could stand in for it)."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field
from pydantic_core import PydanticCustomError

from parley.errors import InvalidRequest
from parley.model import (
    DISPLAY_NAME_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    USERNAME_MAX,
    USERNAME_MIN,
    USERNAME_PATTERN,
    valid_display_name,
)


def _unicode_text(value: str) -> str:
    """``value`` if it encodes as UTF-8; JSON can carry a lone surrogate (``"\\ud800"``) that no hash or store takes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(_unicode_text)]


def _display_name(value: str) -> str:
    """parley.model.valid_display_name as a validation error of the field (type ``display_name``; the message
    names the rule, never the value)."""
    try:
        return valid_display_name(value)
    except InvalidRequest as exc:
        raise PydanticCustomError("display_name", exc.reason.replace("'displayName' ", "", 1)) from None


DISPLAY_NAME_RULES = (
    f"Shown beside the user name, in any script: 1-{DISPLAY_NAME_MAX} characters (Unicode code points, counted after "
    "NFC normalization and trimming), stored normalized and trimmed. Refused: control characters (Cc), line and "
    "paragraph separators, format characters (Cf: bidi controls, zero-width spaces, tags; U+200C and U+200D only "
    "between two other characters), and a name with no visible character."
)
# The rule is checked by _display_name alone, so that every refusal says it the same way; the schema's bounds are
# those of the raw value (what trimming and NFC can bring to DISPLAY_NAME_MAX).
DisplayName = Annotated[str, AfterValidator(_display_name),
                        Field(description=DISPLAY_NAME_RULES,
                              json_schema_extra={"minLength": 1, "maxLength": 4 * DISPLAY_NAME_MAX})]


class Credentials(BaseModel):
    username: Text = Field(min_length=USERNAME_MIN, max_length=USERNAME_MAX, pattern=USERNAME_PATTERN)
    password: Text = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)


class Signup(Credentials):
    displayName: DisplayName | None = None  # optional; null or absent: none


class DisplayNameChange(BaseModel):
    displayName: DisplayName | None  # required; null clears it


class User(BaseModel):
    id: str
    username: str
    # absent (never null) when the user has none
    displayName: str = Field(default=None, exclude_if=lambda v: v is None)  # type: ignore[assignment]


class SessionOut(BaseModel):
    token: str
    user: User
    expiresAt: int | None = None  # the token's exp (epoch seconds): renew before it


class PasswordChange(BaseModel):
    currentPassword: Text = Field(min_length=1, max_length=PASSWORD_MAX)
    newPassword: Text = Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)


class ReactionOut(BaseModel):
    emoji: str
    count: int
    users: list[User]  # the first 10


class ReplyToOut(BaseModel):
    id: str
    user: User
    excerpt: str  # the first 200 characters; "" once the original is deleted


class MessageOut(BaseModel):
    """A message in its current state (docs/protocol.md); deleted, a tombstone: no text, reactions, reply or mentions."""

    id: str
    room: str
    text: str | None = None
    user: User
    clientMsgId: str | None
    createdAt: str
    version: int
    cursor: str
    editedAt: str | None = None
    deleted: bool | None = None
    deletedBy: User | None = None
    reactions: list[ReactionOut] | None = None
    replyTo: ReplyToOut | None = None
    mentions: list[User] | None = None


class HistoryOut(BaseModel):
    room: str
    messages: list[MessageOut]
    hasMore: bool


class PresenceOut(BaseModel):
    room: str
    users: list[User]


class LastMessageOut(BaseModel):
    id: str
    text: str  # "" when it was deleted
    user: User
    createdAt: str
    deleted: bool | None = None


class RoomItemOut(BaseModel):
    room: str
    kind: str
    members: int | User | None
    owner: User | None
    lastMessage: LastMessageOut | None
    unread: int
    unreadCapped: bool
    mentions: int  # of the unread messages, those that mention you
    readId: str | None
    lastActivityAt: str


class BlocksOut(BaseModel):
    blocks: list[User]  # the people you blocked, oldest first


class RoomsOut(BaseModel):
    rooms: list[RoomItemOut]


class DirectoryItemOut(BaseModel):
    room: str
    kind: str
    members: int
    lastMessage: LastMessageOut | None
    lastActivityAt: str


class DirectoryOut(BaseModel):
    rooms: list[DirectoryItemOut]
    next: str | None


class MembersOut(BaseModel):
    room: str
    members: list[User]  # longest-standing first
    next: str | None  # the cursor of the next page; null on the last


class LengthOut(BaseModel):
    maxLength: int


class TextLimitsOut(LengthOut):
    minLength: int


class UsernameLimitsOut(TextLimitsOut):
    pattern: str  # anchored; the same in JavaScript


class RoomLimitsOut(LengthOut):
    pattern: str  # a room's name (createRoom, join)
    directPattern: str  # a direct room's name, dm-<id>-<id>


class HistoryLimitsOut(BaseModel):
    pageSize: int  # what a page asks for unless it says otherwise
    maxPageSize: int


class TypingLimitsOut(BaseModel):
    intervalMs: int  # repeat "is typing" this often while keys are pressed; "stopped" after as long without one
    expiresMs: int  # a typing state not repeated within this is over


class LimitsOut(BaseModel):
    """What the server accepts (parley.client_limits), so a client checks it before it sends."""

    username: UsernameLimitsOut
    password: TextLimitsOut
    displayName: LengthOut  # Unicode code points, counted after NFC normalization and trimming
    room: RoomLimitsOut
    text: LengthOut
    clientMsgId: LengthOut
    history: HistoryLimitsOut
    roomsPerConnection: int
    typing: TypingLimitsOut


class ConfigOut(BaseModel):
    websocketUrl: str
    apiUrl: str
    limits: LimitsOut
    # Only with the embedded in-memory database (make run without MONGODB_URI): an id kept in that database, new
    # after every restart (which empties it), so a page whose session vanished can say the server was reset.
    instanceId: str | None = None


class Problem(BaseModel):
    detail: str
