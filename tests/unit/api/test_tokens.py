"""Tokens: issued with the right claims, and refused for every reason a token can be bad."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr

from pulsetrader.api.auth import ApiConfigError, TokenError, TokenService, secret_from
from pulsetrader.api.users import UserStore
from pulsetrader.config import Settings

SECRET = "k3Jq9vLwR2mXz8TfB1nYc7HsQ4pDgA6uE0oKiVbNtWl"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users() -> UserStore:
    store = UserStore(hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    store.add("alice", "password-1")
    return store


@pytest.fixture
def tokens(users: UserStore, clock: Clock) -> TokenService:
    return TokenService(SECRET, users, clock=clock)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_an_access_token_carries_sub_type_iat_exp_jti(tokens: TokenService, clock: Clock) -> None:
    pair = tokens.issue("alice")
    claims = jwt.decode(
        pair.access_token, SECRET, algorithms=["HS256"], options={"verify_exp": False}
    )
    assert claims["sub"] == "alice"
    assert claims["type"] == "access"
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 900
    assert claims["jti"]
    assert pair.expires_in == 900
    assert jwt.get_unverified_header(pair.access_token)["alg"] == "HS256"
    assert tokens.verify(pair.access_token, "access").sub == "alice"


def test_every_token_is_unique(tokens: TokenService) -> None:
    first, second = tokens.issue("alice"), tokens.issue("alice")
    assert first.access_token != second.access_token
    assert first.refresh_token != second.refresh_token


def test_a_bad_signature_is_refused(tokens: TokenService, clock: Clock) -> None:
    claims = {"sub": "alice", "type": "access", "iat": clock.now, "exp": clock.now + 60}
    forged = jwt.encode({**claims, "jti": "x"}, "a different key of enough length!!", "HS256")
    with pytest.raises(TokenError, match="signature"):
        tokens.verify(forged, "access")
    good = tokens.issue("alice").access_token
    head, _, signature = good.split(".")
    payload = jwt.decode(good, options={"verify_signature": False})
    tampered = f"{head}.{_b64({**payload, 'sub': 'bob'})}.{signature}"
    with pytest.raises(TokenError, match="signature"):
        tokens.verify(tampered, "access")


def test_alg_none_is_refused(tokens: TokenService, clock: Clock) -> None:
    claims = {"sub": "alice", "type": "access", "iat": clock.now, "exp": clock.now + 60, "jti": "x"}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(TokenError):
        tokens.verify(unsigned, "access")
    other_alg = jwt.encode(claims, SECRET * 2, algorithm="HS512")
    with pytest.raises(TokenError, match="algorithm"):
        tokens.verify(other_alg, "access")


def test_an_expired_token_is_refused(tokens: TokenService, clock: Clock) -> None:
    access = tokens.issue("alice").access_token
    clock.now += 899
    assert tokens.verify(access, "access").sub == "alice"
    clock.now += 1
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(access, "access")


def test_the_wrong_type_is_refused(tokens: TokenService) -> None:
    pair = tokens.issue("alice")
    with pytest.raises(TokenError, match="refresh token cannot be used"):
        tokens.verify(pair.refresh_token, "access")
    with pytest.raises(TokenError, match="access token cannot be used"):
        tokens.verify(pair.access_token, "refresh")


def test_an_unknown_user_is_refused(tokens: TokenService) -> None:
    with pytest.raises(TokenError, match="unknown user"):
        tokens.verify(tokens.issue("carol").access_token, "access")


@pytest.mark.parametrize("missing", ["sub", "type", "iat", "exp", "jti"])
def test_a_missing_claim_is_refused(tokens: TokenService, clock: Clock, missing: str) -> None:
    claims = {"sub": "alice", "type": "access", "iat": clock.now, "exp": clock.now + 60, "jti": "x"}
    del claims[missing]
    with pytest.raises(TokenError, match=missing):
        tokens.verify(jwt.encode(claims, SECRET, algorithm="HS256"), "access")


@pytest.mark.parametrize(
    "changes",
    [{"type": "session"}, {"sub": 7}, {"sub": ""}, {"exp": "soon"}, {"iat": True}, {"jti": 1}],
)
def test_claims_of_the_wrong_kind_are_refused(
    tokens: TokenService, clock: Clock, changes: dict
) -> None:
    claims = {"sub": "alice", "type": "access", "iat": clock.now, "exp": clock.now + 60, "jti": "x"}
    claims.update(changes)
    with pytest.raises(TokenError):
        tokens.verify(jwt.encode(claims, SECRET, algorithm="HS256"), "access")


@pytest.mark.parametrize("garbled", ["", "abc", "a.b.c", "....", "Bearer x", "é.é.é"])
def test_garbled_tokens_are_refused(tokens: TokenService, garbled: str) -> None:
    with pytest.raises(TokenError):
        tokens.verify(garbled, "access")


def test_a_refresh_token_works_once(tokens: TokenService, clock: Clock) -> None:
    first = tokens.issue("alice")
    second = tokens.refresh(first.refresh_token)
    assert tokens.verify(second.access_token, "access").sub == "alice"
    with pytest.raises(TokenError, match="already used"):
        tokens.refresh(first.refresh_token)
    clock.now += 8 * 3600
    with pytest.raises(TokenError, match="expired"):
        tokens.refresh(second.refresh_token)


def test_token_errors_never_contain_the_token(tokens: TokenService) -> None:
    token = tokens.issue("carol").access_token
    with pytest.raises(TokenError) as caught:
        tokens.verify(token, "access")
    assert token not in str(caught.value)


def _settings(secret: str | None) -> Settings:
    return Settings(_env_file=None, jwt_secret_key=None if secret is None else SecretStr(secret))


def test_the_secret_is_required_with_no_default() -> None:
    with pytest.raises(ApiConfigError, match="JWT_SECRET_KEY is not set"):
        secret_from(_settings(None))
    with pytest.raises(ApiConfigError, match="too short"):
        secret_from(_settings("x1y2z3"))
    with pytest.raises(ApiConfigError, match="placeholder"):
        secret_from(_settings("changeme-changeme-changeme-changeme"))
    assert secret_from(_settings(SECRET)) == SECRET


def test_the_service_takes_a_secret_str(users: UserStore) -> None:
    service = TokenService(SecretStr(SECRET), users)
    assert service.verify(service.issue("alice").access_token, "access").sub == "alice"
