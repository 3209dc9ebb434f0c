"""Exact amounts, UTC times and the crypto/equity symbol rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pulsetrader.domain import (
    AssetClass,
    asset_class_of,
    decimal_str,
    ensure_utc,
    is_crypto,
    isoformat_z,
    optional_decimal,
    order_symbol,
    parse_utc,
    position_symbol,
    to_decimal,
    utcnow,
    validate_symbol,
)


def test_float_converts_through_its_shortest_text() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert str(to_decimal(0.1)) == "0.1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(Decimal("1.25"), Decimal("1.25")), (3, Decimal(3)), (" 1.50 ", Decimal("1.50"))],
)
def test_decimal_int_and_text_convert_exactly(value: object, expected: Decimal) -> None:
    assert to_decimal(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, False])
def test_boolean_amount_is_refused(value: bool) -> None:
    with pytest.raises(TypeError):
        to_decimal(value)


@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-inf", float("nan"), float("inf")])
def test_non_finite_amount_is_refused(value: str | float) -> None:
    with pytest.raises(ValueError, match="finite"):
        to_decimal(value)


def test_text_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="not a number"):
        to_decimal("12abc")


def test_unsupported_type_is_refused() -> None:
    with pytest.raises(TypeError):
        to_decimal([1])  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, "", "   "])
def test_optional_decimal_passes_missing_values_as_none(value: str | None) -> None:
    assert optional_decimal(value) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1E+2"), "100"),
        (Decimal("1.500"), "1.5"),
        (Decimal("0.00"), "0"),
        (Decimal("-0"), "0"),
        (Decimal("-2.50"), "-2.5"),
        (Decimal("0.000001"), "0.000001"),
    ],
)
def test_decimal_str_has_no_exponent_and_no_trailing_zeros(value: Decimal, text: str) -> None:
    assert decimal_str(value) == text


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ensure_utc(datetime(2024, 1, 2, 3, 4, 5))


def test_aware_datetime_is_converted_to_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    result = ensure_utc(datetime(2024, 1, 2, 9, 30, tzinfo=eastern))
    assert result == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert result.tzinfo is UTC


def test_utcnow_is_aware_utc() -> None:
    assert utcnow().tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05.123456789Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2024-01-02T03:04:05.5Z", datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T05:04:05.000000001+02:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_parse_utc_handles_nanoseconds_z_and_offsets(text: str, expected: datetime) -> None:
    result = parse_utc(text)
    assert result == expected
    assert result.tzinfo is UTC


def test_parse_utc_refuses_a_timestamp_without_zone() -> None:
    with pytest.raises(ValueError, match="naive"):
        parse_utc("2024-01-02T03:04:05")


def test_isoformat_z_writes_utc_with_z_suffix() -> None:
    eastern = timezone(timedelta(hours=-5))
    value = datetime(2024, 1, 2, 9, 30, 0, 250000, tzinfo=eastern)
    assert isoformat_z(value) == "2024-01-02T14:30:00.250000Z"
    assert parse_utc(isoformat_z(value)) == value


@pytest.mark.parametrize(
    ("symbol", "asset_class"),
    [
        ("BTC/USD", AssetClass.CRYPTO),
        ("BTCUSD", AssetClass.CRYPTO),
        ("btc/usd", AssetClass.CRYPTO),
        ("ETHBTC", AssetClass.CRYPTO),
        ("ETH/USDT", AssetClass.CRYPTO),
        ("AAPL", AssetClass.US_EQUITY),
        ("BRK.B", AssetClass.US_EQUITY),
        ("GOOGL", AssetClass.US_EQUITY),
        ("spy", AssetClass.US_EQUITY),
    ],
)
def test_asset_class_follows_the_symbol_rule(symbol: str, asset_class: AssetClass) -> None:
    assert asset_class_of(symbol) is asset_class
    assert is_crypto(symbol) == (asset_class is AssetClass.CRYPTO)


@pytest.mark.parametrize(
    ("symbol", "ordered", "positioned"),
    [
        ("BTCUSD", "BTC/USD", "BTCUSD"),
        ("BTC/USD", "BTC/USD", "BTCUSD"),
        ("ethbtc", "ETH/BTC", "ETHBTC"),
        ("USDTUSD", "USDT/USD", "USDTUSD"),
        (" aapl ", "AAPL", "AAPL"),
        ("BRK.B", "BRK.B", "BRK.B"),
    ],
)
def test_crypto_spellings_convert_both_ways(symbol: str, ordered: str, positioned: str) -> None:
    assert order_symbol(symbol) == ordered
    assert position_symbol(symbol) == positioned
    assert order_symbol(position_symbol(symbol)) == ordered


@pytest.mark.parametrize(("symbol", "canonical"), [("btcusd", "BTC/USD"), ("brk.b", "BRK.B")])
def test_valid_symbol_returns_the_order_spelling(symbol: str, canonical: str) -> None:
    assert validate_symbol(symbol) == canonical


@pytest.mark.parametrize("symbol", ["", "BTC/", "/USD", "AA PL", "AAPL!", "BRK.BBB"])
def test_malformed_symbol_is_refused(symbol: str) -> None:
    with pytest.raises(ValueError, match="invalid symbol"):
        validate_symbol(symbol)
