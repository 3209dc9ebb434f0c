"""The API's users: names with argon2 password hashes, from ``API_USERS`` or added at run time.

``API_USERS`` holds comma-separated ``name:hash`` pairs. An argon2 encoded hash has commas of
its own (``$argon2id$v=19$m=65536,t=3,p=4$salt$hash``), so entries are split only at a comma
followed by ``name:$``. ``pulsetrader create-user`` prints an entry made by :func:`user_entry`.

Passwords are never stored or logged; only their argon2 hashes are kept. :meth:`UserStore.verify`
takes about as long for an unknown name as for a known one, so timing does not tell which names
exist.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from pulsetrader.config import Settings

#: What a user name may look like: short, printable, no separators of the API_USERS format.
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
#: Longer passwords are refused without hashing (argon2 would take them, slowly).
MAX_PASSWORD_LENGTH = 1024
MIN_PASSWORD_LENGTH = 8

# A comma that starts the next entry: followed by a name, a colon and the hash's leading "$".
_ENTRY_SEPARATOR = re.compile(r",\s*(?=[^,:\s]+:\$)")

_default_hasher = PasswordHasher()


class UserConfigError(ValueError):
    """``API_USERS`` (or a name or password given to :class:`UserStore`) is not usable."""


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """The argon2id encoded hash of ``password`` (OWASP-recommended parameters by default)."""
    return (hasher or _default_hasher).hash(password)


def generate_password(nbytes: int = 18) -> str:
    """A random URL-safe password (24 characters for the default 18 bytes)."""
    return secrets.token_urlsafe(nbytes)


def check_username(name: str) -> str:
    """``name`` if it is a valid user name; UserConfigError saying what is allowed otherwise."""
    if not USERNAME_RE.match(name):
        raise UserConfigError(
            f"invalid user name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'"
        )
    return name


def user_entry(name: str, password: str, hasher: PasswordHasher | None = None) -> str:
    """The ``name:hash`` entry for ``API_USERS`` (append it with a comma to existing ones)."""
    check_username(name)
    _check_password(password)
    return f"{name}:{hash_password(password, hasher)}"


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserConfigError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserConfigError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")


def parse_users(text: str | None) -> dict[str, str]:
    """``API_USERS`` text as {name: hash}. Raises UserConfigError listing every bad entry.

    Entries are ``name:$argon2...`` separated by commas (whitespace around them is ignored);
    an empty or missing value is no users.
    """
    if text is None or not text.strip():
        return {}
    users: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(_ENTRY_SEPARATOR.split(text.strip()), start=1):
        entry = raw.strip()
        name, colon, encoded = entry.partition(":")
        name = name.strip()
        if not colon or not name:
            problems.append(f"entry {number} is not 'name:argon2-hash' ({_shown(entry)})")
            continue
        if not USERNAME_RE.match(name):
            problems.append(f"entry {number}: invalid user name {name!r}")
            continue
        if not _is_argon2(encoded):
            problems.append(
                f"entry {number} ({name}): the hash is not an argon2 hash "
                "(create one with `pulsetrader create-user`)"
            )
            continue
        if name in users:
            problems.append(f"entry {number}: user {name!r} is listed twice")
            continue
        users[name] = encoded
    if problems:
        raise UserConfigError("API_USERS: " + "; ".join(problems))
    return users


def _is_argon2(encoded: str) -> bool:
    if not encoded.startswith("$argon2"):
        return False
    try:
        extract_parameters(encoded)
    except (InvalidHashError, ValueError):
        return False
    return True


def _shown(entry: str) -> str:
    """Enough of a malformed entry to find it, never a whole hash."""
    return repr(entry[:12] + "…") if len(entry) > 12 else repr(entry)


class UserStore:
    """The users allowed to log in. ``hasher`` sets the argon2 cost of :meth:`add` (tests use a
    cheap one); verification always uses the cost recorded in each hash."""

    def __init__(
        self, users: dict[str, str] | None = None, *, hasher: PasswordHasher | None = None
    ) -> None:
        self._hasher = hasher or _default_hasher
        self._users: dict[str, str] = {}
        for name, encoded in (users or {}).items():
            self._users[check_username(name)] = encoded
        # Verified for unknown names, so a miss costs as much as a wrong password.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    @classmethod
    def from_config(cls, text: str | None, *, hasher: PasswordHasher | None = None) -> UserStore:
        """The users listed in ``API_USERS`` text (see :func:`parse_users`)."""
        return cls(parse_users(text), hasher=hasher)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, hasher: PasswordHasher | None = None
    ) -> UserStore:
        """The users of ``settings.api_users`` (``API_USERS``)."""
        return cls.from_config(settings.api_users, hasher=hasher)

    def add(self, name: str, password: str) -> None:
        """Add (or replace) user ``name`` with ``password``, hashed."""
        check_username(name)
        _check_password(password)
        self._users[name] = self._hasher.hash(password)

    def exists(self, name: str) -> bool:
        return name in self._users

    @property
    def names(self) -> list[str]:
        return sorted(self._users)

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, name: object) -> bool:
        return name in self._users

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is user ``name``'s. Slow on purpose (argon2): call it from a
        thread (``asyncio.to_thread``) on a server."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        encoded = self._users.get(name)
        try:
            if encoded is None:
                self._hasher.verify(self._dummy, password)
                return False
            return self._hasher.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False

    def entries(self) -> Iterable[str]:
        """The ``name:hash`` entries, as ``API_USERS`` would list them."""
        return (f"{name}:{encoded}" for name, encoded in sorted(self._users.items()))


__all__ = [
    "UserConfigError",
    "UserStore",
    "check_username",
    "generate_password",
    "hash_password",
    "parse_users",
    "user_entry",
]
