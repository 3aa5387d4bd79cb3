"""Password hashing with argon2id (OWASP parameters: m=19 MiB, t=2, p=1), and the NIST SP 800-63B §5.1.1.2
blocklist check: zxcvbn (Dropbox's estimator; its dictionaries hold the most common and breached passwords,
names, words and keyboard patterns) refuses anything it scores below 3 of 4, and a password that contains
the user name (a context-specific word, in NIST's words) is refused whatever it scores."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from parley.errors import WeakPassword

MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable", ~10^8 guesses or more
_CHECKED_CHARS = 64  # zxcvbn's time grows with length; a longer password is judged on its first 64

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
# Verified against when the user does not exist, so an unknown name costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("parley-timing-equalizer")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def require_strong(password: str, *, username: str) -> None:
    """Raise ``WeakPassword`` (its reason is shown to the user) for a blocklisted password."""
    if username.lower() in password.lower():
        raise WeakPassword("the password must not contain your username")
    # imported here: its word lists make the import slow (docs/benchmarks.md, "Cold start"), and the
    # authorizer, which never checks a new password, would otherwise pay it on every cold start
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:_CHECKED_CHARS], user_inputs=[username])
    if result["score"] < MIN_SCORE:
        feedback = result.get("feedback") or {}
        hint = (feedback.get("warning") or next(iter(feedback.get("suggestions") or []), "")).strip().rstrip(".")
        why = f" ({hint[:1].lower()}{hint[1:]})" if hint else ""
        raise WeakPassword(f"too easy to guess{why}. Try a longer passphrase of uncommon words")
