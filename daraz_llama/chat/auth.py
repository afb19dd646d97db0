"""Optional password login: on when CHAINLIT_AUTH_SECRET and a users file or variable are set."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

USERS_ENV = "DARAZ_LLAMA_USERS"  # "alice:secret,bob:sha256:<hex>"
USERS_FILE_ENV = "DARAZ_LLAMA_USERS_FILE"  # one "name:password" or "name:sha256:<hex>" per line; '#' comments


class UsersError(ValueError):
    """A malformed users entry; the message names the file and line (or the variable)."""


def _parse(entries: list[tuple[str, str]]) -> dict[str, str]:
    users: dict[str, str] = {}
    for where, entry in entries:
        name, sep, secret = entry.partition(":")
        if not sep or not name.strip() or not secret:
            raise UsersError(f"{where}: expected 'name:password' or 'name:sha256:<hex>', got {entry!r}")
        if name.strip() in users:
            raise UsersError(f"{where}: user {name.strip()!r} is listed twice")
        users[name.strip()] = secret
    return users


def load_users() -> dict[str, str]:
    """Users from ``DARAZ_LLAMA_USERS_FILE`` and ``DARAZ_LLAMA_USERS`` (empty: no login)."""
    entries: list[tuple[str, str]] = []
    path = os.environ.get(USERS_FILE_ENV)
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise UsersError(f"{USERS_FILE_ENV}={path}: {err.strerror}") from None
        entries += [(f"{path}:{number}", line.strip()) for number, line in enumerate(lines, 1)
                    if line.strip() and not line.lstrip().startswith("#")]
    entries += [(USERS_ENV, item.strip()) for item in os.environ.get(USERS_ENV, "").split(",") if item.strip()]
    return _parse(entries)


def login_enabled() -> bool:
    return bool(os.environ.get("CHAINLIT_AUTH_SECRET")) and bool(load_users())


def check_password(users: dict[str, str], name: str, password: str) -> bool:
    """Constant-time check of ``password`` against a plain or ``sha256:<hex>`` secret."""
    secret = users.get(name)
    if secret is None:
        return False
    if secret.startswith("sha256:"):
        return hmac.compare_digest(hashlib.sha256(password.encode("utf-8")).hexdigest(), secret[len("sha256:"):])
    return hmac.compare_digest(password.encode("utf-8"), secret.encode("utf-8"))
