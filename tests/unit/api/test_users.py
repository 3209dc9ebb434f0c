"""Users: argon2 hashing, API_USERS parsing (commas inside the hashes), clear errors."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from pulsetrader.api.users import (
    UserConfigError,
    UserStore,
    generate_password,
    hash_password,
    parse_users,
    user_entry,
)

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_a_hash_verifies_its_password_only() -> None:
    store = UserStore({"alice": hash_password("s3cret-pass", CHEAP)}, hasher=CHEAP)
    assert store.verify("alice", "s3cret-pass")
    assert not store.verify("alice", "s3cret-pasS")
    assert not store.verify("alice", "")
    assert not store.verify("nobody", "s3cret-pass")


def test_the_default_hash_is_argon2id_with_owasp_parameters() -> None:
    encoded = hash_password("s3cret-pass")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "s3cret-pass" not in encoded


def test_an_entry_round_trips_through_api_users() -> None:
    first = user_entry("alice", "first-password", CHEAP)
    second = user_entry("bob.smith", "second-password", CHEAP)
    assert first.startswith("alice:$argon2id$")
    assert "," in first  # m=...,t=...,p=... : the reason for the careful split
    store = UserStore.from_config(f"{first},{second}", hasher=CHEAP)
    assert store.names == ["alice", "bob.smith"]
    assert store.verify("alice", "first-password")
    assert store.verify("bob.smith", "second-password")
    assert list(store.entries()) == [first, second]


def test_whitespace_around_entries_is_ignored() -> None:
    first = user_entry("alice", "first-password", CHEAP)
    second = user_entry("bob", "second-password", CHEAP)
    assert set(parse_users(f"  {first} ,\n {second}  ")) == {"alice", "bob"}


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_no_users_configured_is_no_users(empty: str | None) -> None:
    assert parse_users(empty) == {}
    assert len(UserStore.from_config(empty, hasher=CHEAP)) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alice", "entry 1 is not 'name:argon2-hash'"),
        (":$argon2id$v=19$m=8,t=1,p=1$abc$def", "entry 1 is not 'name:argon2-hash'"),
        ("alice:plaintext-password", "entry 1 (alice): the hash is not an argon2 hash"),
        ("alice:$argon2id$garbage", "entry 1 (alice): the hash is not an argon2 hash"),
        ("al ice:$argon2id$v=19$m=8,t=1,p=1$abc$def", "entry 1: invalid user name 'al ice'"),
    ],
)
def test_bad_entries_say_which_and_why(text: str, message: str) -> None:
    with pytest.raises(UserConfigError, match="API_USERS") as caught:
        parse_users(text)
    assert message in str(caught.value)
    assert "plaintext-password" not in str(caught.value)


def test_every_bad_entry_is_reported_at_once() -> None:
    good = user_entry("alice", "first-password", CHEAP)
    with pytest.raises(UserConfigError) as caught:
        parse_users(f"{good},{good},bob:nohash")
    text = str(caught.value)
    assert "entry 2: user 'alice' is listed twice" in text
    assert "entry 3 (bob)" not in text  # "bob:nohash" has no "$": it is part of entry 2
    assert "entry 2" in text


def test_a_malformed_tail_is_reported() -> None:
    good = user_entry("alice", "first-password", CHEAP)
    with pytest.raises(UserConfigError, match=r"entry 2 \(bob\): the hash is not an argon2 hash"):
        parse_users(f"{good},bob:$nothash")


def test_add_checks_names_and_passwords() -> None:
    store = UserStore(hasher=CHEAP)
    with pytest.raises(UserConfigError, match="invalid user name"):
        store.add("bad:name", "long-enough-password")
    with pytest.raises(UserConfigError, match="at least 8"):
        store.add("alice", "short")
    with pytest.raises(UserConfigError, match="at most 1024"):
        store.add("alice", "x" * 1025)
    store.add("alice", "long-enough-password")
    assert store.exists("alice")
    assert "alice" in store


def test_overlong_passwords_are_refused_without_hashing() -> None:
    store = UserStore({"alice": hash_password("x" * 1024, CHEAP)}, hasher=CHEAP)
    assert store.verify("alice", "x" * 1024)
    assert not store.verify("alice", "x" * 1025)


def test_generated_passwords_are_long_and_different() -> None:
    first, second = generate_password(), generate_password()
    assert len(first) >= 24
    assert first != second
