"""Masking and redaction of secrets: API keys, API secrets, the JWT key, bearer tokens.

One :class:`Redactor` per process knows every configured secret. The logging setup runs every
record through it, and the CLI, the API and the journal use :func:`mask_secret` whenever they
show anything that identifies a credential.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

REDACTED = "[REDACTED]"

# Header and token shapes that carry credentials even when we never saw the value before, e.g. a
# request logged by a third-party library with a key from another process.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?i)(APCA-API-(?:SECRET-KEY|KEY-ID)['\"]?\s*[:=]\s*['\"]?)([^'\"\s,;}]+)"),
    re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{8,})"),
    re.compile(r"(?i)(\bbasic\s+)([A-Za-z0-9+/=]{8,})"),
    re.compile(
        r"(?i)(['\"]?(?:secret_key|secret|key_id|api_secret|password|jwt_secret_key|refresh_token"
        r"|access_token)['\"]?\s*[:=]\s*['\"]?)([^'\"\s,;}]{4,})"
    ),
)


def mask_secret(value: str | None) -> str:
    """Show enough of a credential to recognise it, never enough to use it: ``PK…9XQ``.

    Values shorter than 12 characters are masked completely, since a few characters of a short
    secret are a real share of it.
    """
    if not value:
        return "(not set)"
    if len(value) < 12:
        return "…"
    return f"{value[:2]}…{value[-3:]}"


class Redactor:
    """Replaces every registered secret, and credential-shaped headers/tokens, in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._regex: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Register a secret.

        Values shorter than 4 characters are ignored: they would mask noise.
        """
        if not secret or len(secret) < 4:
            return
        with self._lock:
            if secret in self._secrets:
                return
            self._secrets.add(secret)
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._regex = re.compile("|".join(re.escape(s) for s in ordered))

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._regex = None

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret and credential-looking value replaced."""
        regex = self._regex
        if regex is not None:
            text = regex.sub(REDACTED, text)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        return text


#: The process-wide redactor the logging sinks use.
redactor = Redactor()
