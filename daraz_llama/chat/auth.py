"""Optional password login: on when CHAINLIT_AUTH_SECRET and users (a file or a variable) are both set.

Passwords are stored as salted scrypt hashes (``daraz-llama hash-password``); a half-made configuration
(a secret without users, users without a secret, a misspelt variable, a missing file) stops the chat
from starting instead of leaving it open; failed logins lock a user name out for a growing time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from pathlib import Path

SECRET_ENV = "CHAINLIT_AUTH_SECRET"
USERS_ENV = "DARAZ_LLAMA_USERS"  # "alice:scrypt:...,bob:scrypt:..."
USERS_FILE_ENV = "DARAZ_LLAMA_USERS_FILE"  # one "name:scrypt:..." per line; '#' comments
SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # about 50 ms a check: slow for guessing, fine for a login
FREE_FAILURES = 3  # wrong passwords before a user name is locked out
MAX_LOCKOUT_S = 300.0


class UsersError(ValueError):
    """A malformed users entry or a half-made login configuration; the message says where."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt:<salt>:<hash>`` (base64) for a users entry."""
    if not password:
        raise UsersError("the password is empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt:{base64.b64encode(salt).decode()}:{base64.b64encode(digest).decode()}"


def _check_hash(password: str, stored: str) -> bool:
    _, salt, digest = stored.split(":")
    expected = hash_password(password, base64.b64decode(salt)) if password else ""
    return hmac.compare_digest(expected.encode(), f"scrypt:{salt}:{digest}".encode())


def _valid_hash(secret: str) -> bool:
    parts = secret.split(":")
    if len(parts) != 3 or parts[0] != "scrypt":
        return False
    try:
        return (
            len(base64.b64decode(parts[1], validate=True)) >= 8 and len(base64.b64decode(parts[2], validate=True)) == 32
        )
    except ValueError:
        return False


def _parse(entries: list[tuple[str, str]]) -> dict[str, str]:
    users: dict[str, str] = {}
    for where, entry in entries:
        name, sep, secret = entry.partition(":")
        if not sep or not name.strip() or not _valid_hash(secret):
            raise UsersError(
                f"{where}: expected 'name:scrypt:<salt>:<hash>' (make one with `daraz-llama "
                f"hash-password`); plain and unsalted passwords are not accepted"
            )
        if name.strip() in users:
            raise UsersError(f"{where}: user {name.strip()!r} is listed twice")
        users[name.strip()] = secret
    return users


def load_users() -> dict[str, str]:
    """Users from ``DARAZ_LLAMA_USERS_FILE`` and ``DARAZ_LLAMA_USERS`` (empty: none configured)."""
    entries: list[tuple[str, str]] = []
    path = os.environ.get(USERS_FILE_ENV)
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise UsersError(f"{USERS_FILE_ENV}={path}: {err.strerror}") from None
        entries += [
            (f"{path}:{number}", line.strip())
            for number, line in enumerate(lines, 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    entries += [(USERS_ENV, item.strip()) for item in os.environ.get(USERS_ENV, "").split(",") if item.strip()]
    return _parse(entries)


def login_users() -> dict[str, str]:
    """The users when login is configured, ``{}`` when it is off; :class:`UsersError` when it is half-made."""
    misspelt = sorted(
        k for k in os.environ if k.startswith("DARAZ_LLAMA_USER") and k not in (USERS_ENV, USERS_FILE_ENV)
    )
    if misspelt:
        raise UsersError(f"unknown variable {', '.join(misspelt)}: users go in {USERS_ENV} or {USERS_FILE_ENV}")
    users = load_users()
    has_secret = bool(os.environ.get(SECRET_ENV))
    if has_secret and not users:
        raise UsersError(
            f"{SECRET_ENV} is set but no users are: set {USERS_ENV} or {USERS_FILE_ENV}, "
            f"or unset {SECRET_ENV} to run the chat without login"
        )
    if users and not has_secret:
        raise UsersError(f"users are set but {SECRET_ENV} is not: make one with `chainlit create-secret`")
    return users


_UNKNOWN_USER = hash_password(secrets.token_urlsafe(16))


class LoginGuard:
    """Checks passwords; after ``FREE_FAILURES`` wrong ones a user name is refused for 2, 4, 8 … seconds
    (at most ``MAX_LOCKOUT_S``), even with the right password, so guessing is slow."""

    def __init__(self, users: dict[str, str], clock=time.monotonic) -> None:
        self.users = users
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # name -> (failures, locked until)
        self._lock = threading.Lock()

    def check(self, name: str, password: str) -> bool:
        with self._lock:
            failures, until = self._failures.get(name, (0, 0.0))
            if self.clock() < until:
                return False
        stored = self.users.get(name)
        ok = _check_hash(password, stored or _UNKNOWN_USER) and stored is not None  # same time for unknown names
        with self._lock:
            if ok:
                self._failures.pop(name, None)
            else:
                failures += 1
                wait = min(MAX_LOCKOUT_S, 2.0 ** (failures - FREE_FAILURES)) if failures >= FREE_FAILURES else 0.0
                self._failures[name] = (failures, self.clock() + wait)
        return ok
