"""Password hashing with Argon2id (argon2-cffi) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from macroquant.auth.errors import UserError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

# argon2-cffi's defaults follow RFC 9106's second recommended option (Argon2id, t=3,
# m=64 MiB, p=4). Kept explicit so a library upgrade does not silently change them; the
# stored hash carries its own parameters, and check_needs_rehash upgrades old hashes.
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
# Verified against when the username does not exist, so an unknown user costs the same
# time as a wrong password.
_DUMMY_HASH = _HASHER.hash("macroquant-dummy-password-for-timing")


def check_password_policy(password: str) -> None:
    """Refuse passwords that are too short or too long (the message never holds them)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (``$argon2id$v=19$m=65536,t=3,p=4$...``)."""
    check_password_policy(password)
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; ``None`` (no such user) is False
    after the same amount of work as a real check."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash uses weaker parameters than today's and should be replaced."""
    return _HASHER.check_needs_rehash(password_hash)
