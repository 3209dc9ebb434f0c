"""JSON Web Tokens for the API: short-lived access tokens and rotating refresh tokens.

Tokens are HS256-signed with ``JWT_SECRET_KEY``, which has no default: :func:`secret_from`
refuses to go on without a usable one. Claims: ``sub`` (the user), ``type`` (``access`` or
``refresh``), ``iat``, ``exp`` and ``jti``. A token is refused (:class:`TokenError`, answered 401
with ``WWW-Authenticate: Bearer``) when its signature is wrong, its algorithm is anything but
HS256 (``none`` included), it has expired, it is of the other type, a claim is missing, its user
no longer exists, or (a refresh token) it was already used: each refresh hands out a new pair and
the old refresh token stops working, so a stolen one is good for one use at most.

Expiry is checked against the injectable ``clock`` rather than PyJWT's, so tests need not wait.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from pydantic import SecretStr

from pulsetrader.api.users import UserStore
from pulsetrader.config import MIN_JWT_SECRET_LENGTH, Settings, is_placeholder

ALGORITHM = "HS256"
ACCESS_TTL = 15 * 60
REFRESH_TTL = 8 * 60 * 60
TokenType = Literal["access", "refresh"]
_REQUIRED = ("sub", "type", "iat", "exp", "jti")


class ApiConfigError(RuntimeError):
    """The API cannot be built from this configuration (the message says how to fix it)."""


class TokenError(Exception):
    """A token that must be refused; the message is safe to show (it never contains the token)."""


def secret_from(settings: Settings) -> str:
    """The JWT signing key from ``settings``; ApiConfigError when missing, short or a placeholder.

    There is deliberately no fallback: a default key would let anyone who has read the source
    mint tokens.
    """
    fix = (
        'generate one with `python -c "import secrets; print(secrets.token_urlsafe(48))"` '
        "and set JWT_SECRET_KEY"
    )
    value = settings.jwt_secret_key
    if value is None:
        raise ApiConfigError(f"JWT_SECRET_KEY is not set (there is no default): {fix}")
    secret = value.get_secret_value()
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        raise ApiConfigError(
            f"JWT_SECRET_KEY is too short ({len(secret)} characters, at least "
            f"{MIN_JWT_SECRET_LENGTH} needed): {fix}"
        )
    if is_placeholder(secret):
        raise ApiConfigError(f"JWT_SECRET_KEY looks like a placeholder: {fix}")
    return secret


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh hands out."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret


@dataclass(frozen=True, slots=True)
class Claims:
    """A verified token's claims."""

    sub: str
    type: TokenType
    iat: float
    exp: float
    jti: str


class TokenService:
    """Issues and verifies tokens for the users in ``users``."""

    def __init__(
        self,
        secret: str | SecretStr,
        users: UserStore,
        *,
        access_ttl: int = ACCESS_TTL,
        refresh_ttl: int = REFRESH_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        self.users = users
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.clock = clock
        # Refresh tokens already exchanged, by jti, until they would have expired anyway.
        self._used_refresh: dict[str, float] = {}

    def _encode(self, sub: str, kind: TokenType, ttl: int) -> str:
        now = int(self.clock())
        claims = {"sub": sub, "type": kind, "iat": now, "exp": now + ttl, "jti": _jti()}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue(self, username: str) -> TokenPair:
        """A new access and refresh token for ``username``."""
        return TokenPair(
            access_token=self._encode(username, "access", self.access_ttl),
            refresh_token=self._encode(username, "refresh", self.refresh_ttl),
            expires_in=self.access_ttl,
        )

    def verify(self, token: str, expected: TokenType) -> Claims:
        """The claims of a valid token of type ``expected``; TokenError saying why not."""
        try:
            raw: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],  # only HS256: "none" and every other alg are refused
                options={"require": list(_REQUIRED), "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError as exc:
            raise TokenError("invalid token signature") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the {exc.claim!r} claim") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise TokenError("token algorithm not allowed") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("malformed token") from exc
        claims = _claims(raw)
        if claims.type != expected:
            raise TokenError(f"a {claims.type} token cannot be used here ({expected} needed)")
        if claims.exp <= self.clock():
            raise TokenError("token expired")
        if not self.users.exists(claims.sub):
            raise TokenError("unknown user")
        return claims

    def refresh(self, refresh_token: str) -> TokenPair:
        """Exchange a refresh token (once) for a new pair."""
        claims = self.verify(refresh_token, "refresh")
        now = self.clock()
        self._used_refresh = {j: e for j, e in self._used_refresh.items() if e > now}
        if claims.jti in self._used_refresh:
            raise TokenError("refresh token already used")
        self._used_refresh[claims.jti] = claims.exp
        return self.issue(claims.sub)


def _jti() -> str:
    return secrets.token_urlsafe(16)


def _claims(raw: dict[str, Any]) -> Claims:
    sub, kind, iat, exp, jti = (raw.get(name) for name in _REQUIRED)
    if not isinstance(sub, str) or not sub:
        raise TokenError("token subject is not a user name")
    if kind not in ("access", "refresh"):
        raise TokenError("token type is not access or refresh")
    for value in (iat, exp):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TokenError("token times are not numbers")
    if not isinstance(jti, str):
        raise TokenError("token id is not text")
    return Claims(sub=sub, type=kind, iat=float(iat), exp=float(exp), jti=jti)  # type: ignore[arg-type]
