"""Plain data of the chat and the rules for what is valid. No I/O here."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from parley.errors import InvalidRequest

# Every limit a client must respect is written once, here; the web page reads them from /config.json
# (parley.client_limits), the HTTP API's schemas and the validators below use the same names.
ROOM_NAME_MAX = 64
USERNAME_MIN, USERNAME_MAX = 3, 32
DISPLAY_NAME_MAX = 64  # code points, after NFC normalization and trimming (valid_display_name)
PASSWORD_MIN, PASSWORD_MAX = 8, 128
MAX_TEXT = 4000
MAX_CLIENT_MSG_ID = 64
MAX_HISTORY_LIMIT = 100
DEFAULT_HISTORY_LIMIT = 50
MAX_ROOMS_PER_CONNECTION = 50
MAX_REACTIONS = 20  # distinct emoji on one message
REACTION_USERS_SHOWN = 10  # users listed per emoji (the count counts them all)
MAX_EMOJI_CHARS = 32  # code points in one emoji sequence, far more than any Unicode defines
MAX_MENTIONS = 20
REPLY_EXCERPT = 200
# How late a change can be stored after the time it is stamped with: MessageFunction's Timeout (29 s in
# template.yaml; an invocation stamps a change with its clock and stores it before it ends), plus 1 s for the
# clocks of two Lambda containers to differ and for a write in flight when an invocation ends. A sync re-reads
# this far back (docs/protocol.md, "Delivery and order"); tests/test_template.py keeps it above the Timeout.
SYNC_OVERLAP = timedelta(seconds=30)
# A client repeats "is typing" this often while keys are pressed (and says it stopped after as long without
# one); the server relays one per connection at most every TYPING_QUIET (chat/service.py), a little less, and
# a typing state not refreshed for TYPING_EXPIRES is over.
TYPING_INTERVAL = timedelta(seconds=3)
TYPING_EXPIRES = 2 * TYPING_INTERVAL

# Patterns: ``\Z`` for Python (``$`` would let a trailing newline through); the *_PATTERN strings end in ``$``,
# which is the end of input for JSON Schema, Rust's regex (pydantic) and JavaScript alike.
ROOM_PATTERN = rf"^[a-z0-9][a-z0-9_-]{{0,{ROOM_NAME_MAX - 1}}}$"
# A direct room's name, dm-<smaller user id>-<larger user id>: longer than ROOM_RE allows (ids are 32 hex digits).
DIRECT_PATTERN = r"^dm-[a-z0-9]{1,64}-[a-z0-9]{1,64}$"
DIRECT_NAME_MAX = len("dm-") + 64 + len("-") + 64
ANY_ROOM_PATTERN = f"^(?:{ROOM_PATTERN[1:-1]}|{DIRECT_PATTERN[1:-1]})$"
USERNAME_PATTERN = rf"^[A-Za-z0-9_.-]{{{USERNAME_MIN},{USERNAME_MAX}}}$"
MESSAGE_ID_PATTERN = r"^[0-9a-f]{24}$"
# 12 hex digits of ms, a message id, 12 hex digits of ms: the times start below e (before the year 9770, which
# every datetime holds), so any string of this pattern is a cursor the server can read
SYNC_CURSOR_PATTERN = r"^[0-9a-d][0-9a-f]{35}[0-9a-d][0-9a-f]{11}$"
USER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
ROOM_RE = re.compile(ROOM_PATTERN[:-1] + r"\Z")
DIRECT_RE = re.compile(DIRECT_PATTERN[:-1] + r"\Z")
USERNAME_RE = re.compile(USERNAME_PATTERN[:-1] + r"\Z")
MESSAGE_ID_RE = re.compile(MESSAGE_ID_PATTERN[:-1] + r"\Z")
SYNC_CURSOR_RE = re.compile(SYNC_CURSOR_PATTERN[:-1] + r"\Z")
USER_ID_RE = re.compile(USER_ID_PATTERN[:-1] + r"\Z")
LOBBY = "general"


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user as the chat copies them into what they do (messages, memberships, connections): the id, the user
    name, and the display name they had then (``None``: none). Two refs are the same user when id and user name
    are; the display name is left out of the comparison (an older copy may carry an older one)."""

    id: str
    username: str
    display_name: str | None = field(default=None, compare=False)

    def to_json(self) -> dict:
        out = {"id": self.id, "username": self.username}
        if self.display_name:
            out["displayName"] = self.display_name
        return out

    @classmethod
    def of(cls, doc: dict, id_key: str = "id", name_key: str = "username", display_key: str = "displayName") -> UserRef:
        """A ref read back from a stored document (a display name that is not a string is left out)."""
        shown = doc.get(display_key)
        return cls(id=doc[id_key], username=doc[name_key], display_name=shown if isinstance(shown, str) and shown else None)


@dataclass(frozen=True, slots=True)
class Connection:
    id: str
    user: UserRef
    rooms: tuple[str, ...] = ()
    connected_at: datetime | None = None
    expires_at: datetime | None = None
    session_id: str | None = None  # the session of the token it was opened with
    token_expires_at: datetime | None = None  # that token's exp: frames after it get session_ended
    ended: bool = False  # its session was ended (log-out, log-out everywhere, password change)


@dataclass(frozen=True, slots=True)
class Reaction:
    emoji: str
    users: tuple[UserRef, ...]  # everyone who holds it, first first

    def to_json(self) -> dict:
        return {"emoji": self.emoji, "count": len(self.users),
                "users": [u.to_json() for u in self.users[:REACTION_USERS_SHOWN]]}


@dataclass(frozen=True, slots=True)
class ReplyTo:
    id: str
    user: UserRef
    excerpt: str  # the first REPLY_EXCERPT characters of the original; "" when it was deleted

    def to_json(self) -> dict:
        return {"id": self.id, "user": self.user.to_json(), "excerpt": self.excerpt}


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    room: str
    text: str | None  # None once deleted (a tombstone)
    user: UserRef
    created_at: datetime
    client_msg_id: str | None = None
    version: int = 1  # 1 when sent, +1 on each edit, delete or reaction change
    updated_at: datetime | None = None  # the stamp of its last change (None: never changed, created_at)
    edited_at: datetime | None = None
    deleted_by: UserRef | None = None
    reactions: tuple[Reaction, ...] = ()
    reply_to: ReplyTo | None = None
    mentions: tuple[UserRef, ...] = ()

    @property
    def deleted(self) -> bool:
        return self.deleted_by is not None

    @property
    def changed_at(self) -> datetime:
        return self.updated_at or self.created_at

    def to_json(self) -> dict:
        out = {
            "id": self.id,
            "room": self.room,
            "user": self.user.to_json(),
            "clientMsgId": self.client_msg_id,
            "createdAt": iso_ms(self.created_at),
            "version": self.version,
            "cursor": SyncCursor.of_message(self).encode(),
        }
        if self.deleted_by is not None:  # a tombstone: no text, no reactions, no reply or mentions
            out["deleted"] = True
            out["deletedBy"] = self.deleted_by.to_json()
            return out
        out["text"] = self.text
        if self.edited_at is not None:
            out["editedAt"] = iso_ms(self.edited_at)
        if self.reactions:
            out["reactions"] = [r.to_json() for r in self.reactions]
        if self.reply_to is not None:
            out["replyTo"] = self.reply_to.to_json()
        if self.mentions:
            out["mentions"] = [u.to_json() for u in self.mentions]
        return out


def _ms(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


NO_ID = "0" * 24


@dataclass(frozen=True, slots=True)
class SyncCursor:
    """Where a ``sync`` goes on from (opaque to clients: 48 hex digits).

    ``after`` and ``after_id``: the next page holds the changes whose key ``(updatedAt, id)`` sorts after this.
    ``floor``: while a catch-up pages through (``hasMore``), the time its first page was read, less SYNC_OVERLAP;
    the catch-up's last page hands out a cursor that starts again from there, so whatever was stored late behind
    the pages is read in the next round (docs/protocol.md, "Delivery and order"). None: this cursor starts a round.
    """

    after: datetime
    after_id: str = NO_ID
    floor: datetime | None = None

    @staticmethod
    def since(when: datetime) -> SyncCursor:
        """Every change that may have been stored after ``when`` (its stamp is later than ``when`` - overlap)."""
        return SyncCursor(after=when - SYNC_OVERLAP)

    @staticmethod
    def of_message(message: Message) -> SyncCursor:
        return SyncCursor.since(message.changed_at)

    def encode(self) -> str:
        floor = _ms(self.floor) if self.floor is not None else 0
        return f"{_ms(self.after):012x}{self.after_id}{floor:012x}"

    @staticmethod
    def decode(name: str, value: object) -> SyncCursor | None:
        if value is None:
            return None
        if not isinstance(value, str) or not SYNC_CURSOR_RE.match(value):
            raise InvalidRequest(f"'{name}' must be a cursor from a message or an earlier sync (48 hex digits) or absent")
        after, after_id, floor = int(value[:12], 16), value[12:36], int(value[36:], 16)
        return SyncCursor(after=_from_ms(after), after_id=after_id, floor=_from_ms(floor) if floor else None)


@dataclass(frozen=True, slots=True)
class SyncPage:
    room: str
    messages: list[Message] = field(default_factory=list)
    cursor: SyncCursor | None = None  # where the next sync goes on from
    has_more: bool = False
    floor: datetime | None = None  # the floor of this round (for a cursor cut short by the frame size)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    room: str
    messages: list[Message] = field(default_factory=list)
    has_more: bool = False

    def to_json(self) -> dict:
        return {"room": self.room, "messages": [m.to_json() for m in self.messages], "hasMore": self.has_more}


def utcnow() -> datetime:
    """Now in UTC, truncated to milliseconds (what BSON dates keep), so stored and sent times agree."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso_ms(when: datetime) -> str:
    if when.tzinfo is None:  # BSON dates come back naive (UTC) unless tz_aware
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_message_id(created_at: datetime) -> str:
    """24 hex digits: 12 of the creation time in ms, 12 random.

    Sorting ids therefore sorts by ``createdAt`` first and breaks ties by the random part, which is the
    total order history and live delivery share; a page cursor is just an id comparison.
    """
    ms = int(created_at.timestamp() * 1000)
    return f"{ms:012x}{secrets.token_hex(6)}"


def id_time(message_id: str) -> datetime:
    """The creation time (ms) that a message id begins with."""
    return datetime.fromtimestamp(int(message_id[:12], 16) / 1000, timezone.utc)


def not_before(now: datetime, latest_id: str | None) -> datetime:
    """``now``, or 1 ms after the newest message when this clock is behind it (clocks of Lambda containers
    differ a little): a message sent after another was seen always sorts after it."""
    if latest_id is None:
        return now
    floor = id_time(latest_id) + timedelta(milliseconds=1)
    return floor if now < floor else now


# ---------------------------------------------------------------- validation (errors say what was expected)
def _describe(value: object) -> str:
    return "null" if value is None else type(value).__name__.replace("str", "string").replace("dict", "object")


def valid_room(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"'room' must be a string, got {_describe(value)}")
    if not ROOM_RE.match(value) and not DIRECT_RE.match(value):
        raise InvalidRequest(
            f"'room' must be 1-{ROOM_NAME_MAX} characters of a-z, 0-9, '_' or '-', starting with a letter or digit"
            " (or a direct room's dm-<id>-<id>)"
        )
    return value


def valid_text(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"'text' must be a string, got {_describe(value)}")
    text = value.strip()
    _require_utf8("text", text)
    if not text:
        raise InvalidRequest("'text' must not be empty")
    if len(text) > MAX_TEXT:
        raise InvalidRequest(f"'text' must be at most {MAX_TEXT} characters, got {len(text)}")
    return text


def valid_client_msg_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not (1 <= len(value) <= MAX_CLIENT_MSG_ID):
        raise InvalidRequest(f"'clientMsgId' must be a string of 1-{MAX_CLIENT_MSG_ID} characters or absent")
    _require_utf8("clientMsgId", value)
    return value


def _require_utf8(name: str, value: str) -> None:
    """JSON allows lone surrogates (\\ud800) that no UTF-8 store can keep: refuse them up front."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"'{name}' must be valid Unicode text (no lone surrogates)") from None


def valid_cursor(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not MESSAGE_ID_RE.match(value):
        raise InvalidRequest(f"'{name}' must be a message id (24 hex digits) or absent")
    return value


def valid_message_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not MESSAGE_ID_RE.match(value):
        raise InvalidRequest(f"'{name}' must be a message id (24 hex digits)")
    return value


def valid_emoji(value: object) -> str:
    """One emoji: one of Unicode's emoji or emoji sequences (a ZWJ family, a skin tone, a flag, a keycap), which is
    one grapheme cluster; anything else, two emoji or an emoji with text around it included, is refused."""
    import emoji  # only the reaction frames need its tables

    if not isinstance(value, str):
        raise InvalidRequest(f"'emoji' must be a string, got {_describe(value)}")
    _require_utf8("emoji", value)
    if not (0 < len(value) <= MAX_EMOJI_CHARS) or not emoji.is_emoji(value):
        raise InvalidRequest("'emoji' must be exactly one emoji (one grapheme cluster that is an emoji)")
    return value


def valid_mentions(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_MENTIONS:
        raise InvalidRequest(f"'mentions' must be a list of at most {MAX_MENTIONS} user ids or absent")
    if not all(isinstance(v, str) and USER_ID_RE.match(v) for v in value):
        raise InvalidRequest("'mentions' must hold user ids (1-64 characters of A-Z, a-z, 0-9, '_' or '-')")
    return tuple(dict.fromkeys(value))


def valid_limit(value: object) -> int:
    if value is None:
        return DEFAULT_HISTORY_LIMIT
    if isinstance(value, bool) or not isinstance(value, int) or not (1 <= value <= MAX_HISTORY_LIMIT):
        raise InvalidRequest(f"'limit' must be an integer from 1 to {MAX_HISTORY_LIMIT}")
    return value


def valid_username(value: object) -> str:
    if not isinstance(value, str) or not USERNAME_RE.match(value):
        raise InvalidRequest(f"username must be {USERNAME_MIN}-{USERNAME_MAX} characters of A-Z, a-z, 0-9, '_', '.' or '-'")
    return value


# Format characters (Unicode category Cf) a display name may hold: ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER,
# which Persian, the Indic scripts and emoji sequences (👩‍💻) need, and only between two other characters. Every
# other Cf is refused: the bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and marks
# (U+200E, U+200F, U+061C), which reorder the text around a name; zero-width spaces and joiners (U+200B, U+2060,
# U+FEFF); the soft hyphen; the tag characters (U+E0000 block), invisible text a name could smuggle.
JOINERS = frozenset("\u200c\u200d")
# Letters that draw nothing, the usual way to a name that looks empty (they are Lo/So, so the category rule
# below does not catch them)
BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def valid_display_name(value: object) -> str | None:
    """A display name as stored: NFC-normalized and trimmed; ``None`` (or absent) means none. Any script; 1 to
    DISPLAY_NAME_MAX code points; no control characters (Cc), line or paragraph separators (Zl, Zp) or format
    characters (Cf) but the joiners between two characters (JOINERS); at least one visible character (a letter,
    digit, punctuation or symbol). The reason never repeats the value (it is user content)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'displayName' must be a string or null, got {_describe(value)}")
    _require_utf8("displayName", value)
    if len(value) > 4 * DISPLAY_NAME_MAX:  # before normalizing: NFC composes at most 3 code points into 1
        raise InvalidRequest(f"'displayName' must be at most {DISPLAY_NAME_MAX} characters")
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise InvalidRequest("'displayName' must not be empty or only spaces")
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidRequest(f"'displayName' must be at most {DISPLAY_NAME_MAX} characters")
    for i, char in enumerate(name):
        category = unicodedata.category(char)
        if category == "Cc" or category in ("Zl", "Zp"):
            raise InvalidRequest(f"'displayName' must not hold control characters or line breaks (character {i + 1})")
        if category == "Cf" and not (char in JOINERS and 0 < i < len(name) - 1
                                     and name[i - 1] not in JOINERS and name[i + 1] not in JOINERS):
            raise InvalidRequest(
                f"'displayName' must not hold invisible format characters such as bidi controls or zero-width spaces "
                f"(character {i + 1}; a zero-width joiner or non-joiner only between two other characters)")
    if not any(unicodedata.category(c)[0] in "LNPS" and c not in BLANKS for c in name):
        raise InvalidRequest("'displayName' must hold at least one visible character (a letter, digit or symbol)")
    return name


def valid_password(value: object) -> str:
    if not isinstance(value, str) or not (PASSWORD_MIN <= len(value) <= PASSWORD_MAX):
        raise InvalidRequest(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")
    return value
