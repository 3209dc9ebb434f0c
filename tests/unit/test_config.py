"""Configuration loading and the validation report (seed tasks 13.1–13.4)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pulsetrader.config import Mode, ephemeral_settings, load_settings, validate_config

GOOD_JWT = "k8Jq2m-Vd9xYw3LzT5rBn7Pc1Hs6Ge4Fa0Ut_QoRiNy"
GOOD = {
    "ALPACA_PAPER_API_KEY": "PKTESTKEY1234567890X",
    "ALPACA_PAPER_API_SECRET": "s3cr3tVALUEabcdefghijklmnopqrstuvwxyz0123",
    "JWT_SECRET_KEY": GOOD_JWT,
}


def _env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def test_empty_environment_reports_every_missing_variable_at_once() -> None:
    report = validate_config(env_file=Path(".env"))
    names = {p.variable for p in report.problems}
    assert {"ALPACA_PAPER_API_KEY", "ALPACA_PAPER_API_SECRET", "JWT_SECRET_KEY", ".env"} <= names
    assert not report.ok
    assert all(p.fix for p in report.problems)
    assert any("cp .env.example .env" in p.fix for p in report.problems)


def test_valid_environment_passes_without_env_file(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, GOOD)
    report = validate_config(env_file=Path(".env"))
    assert report.ok, report.describe()
    assert any(".env" in w for w in report.warnings)


def test_values_are_read_from_env_file(tmp_path: Path) -> None:
    env = tmp_path / "custom.env"
    env.write_text("\n".join(f"{k}={v}" for k, v in GOOD.items()) + "\nLOG_LEVEL=debug\n")
    report = validate_config(env_file=env)
    assert report.ok, report.describe()
    assert report.settings is not None
    assert report.settings.log_level == "DEBUG"


def test_summary_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, GOOD)
    report = validate_config(env_file=None)
    text = repr(report.summary)
    for secret in GOOD.values():
        assert secret not in text
    assert report.summary["paper key"] == "PK…90X"


@pytest.mark.parametrize(
    "jwt", ["changeme", "short-but-random-Xy7", "changeme-changeme-changeme-changeme", "x" * 40]
)
def test_weak_or_placeholder_jwt_secret_is_rejected(
    monkeypatch: pytest.MonkeyPatch, jwt: str
) -> None:
    _env(monkeypatch, {**GOOD, "JWT_SECRET_KEY": jwt})
    report = validate_config(env_file=None)
    assert [p.variable for p in report.problems] == ["JWT_SECRET_KEY"]


def test_jwt_not_required_when_api_not_started(monkeypatch: pytest.MonkeyPatch) -> None:
    values = dict(GOOD)
    del values["JWT_SECRET_KEY"]
    _env(monkeypatch, values)
    assert validate_config(env_file=None, require_api=False).ok


def test_placeholder_api_key_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {**GOOD, "ALPACA_PAPER_API_KEY": "your_api_key_here"})
    report = validate_config(env_file=None)
    assert [p.variable for p in report.problems] == ["ALPACA_PAPER_API_KEY"]


def test_invalid_mode_falls_back_to_paper_with_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {**GOOD, "ALPACA_MODE": "papr"})
    report = validate_config(env_file=None)
    assert report.ok
    assert report.settings is not None
    assert report.settings.mode is Mode.PAPER
    assert any("ALPACA_MODE" in w for w in report.warnings)


def test_live_mode_requires_live_keys_and_second_confirmation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _env(monkeypatch, {**GOOD, "ALPACA_MODE": "live"})
    names = {p.variable for p in validate_config(env_file=None).problems}
    assert names == {"ALPACA_LIVE_API_KEY", "ALPACA_LIVE_API_SECRET", "PULSETRADER_LIVE_CONFIRM"}


def test_live_mode_with_keys_and_confirmation_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(
        monkeypatch,
        {
            **GOOD,
            "ALPACA_MODE": "live",
            "ALPACA_LIVE_API_KEY": "AKLIVEKEY12345678901",
            "ALPACA_LIVE_API_SECRET": "liveSECRETabcdefghijklmnopqrstuvwxyz0123",
        },
    )
    assert not validate_config(env_file=None).ok
    assert validate_config(env_file=None, confirm_live=True).ok
    monkeypatch.setenv("PULSETRADER_LIVE_CONFIRM", "yes")
    report = validate_config(env_file=None)
    assert report.ok
    assert report.settings is not None
    assert report.settings.credentials() == (
        "AKLIVEKEY12345678901",
        "liveSECRETabcdefghijklmnopqrstuvwxyz0123",
    )


def test_malformed_values_are_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {**GOOD, "API_PORT": "eighty", "RISK_MAX_POSITION_PCT": "-5"})
    report = validate_config(env_file=None)
    assert {p.variable for p in report.problems} == {"API_PORT", "RISK_MAX_POSITION_PCT"}


def test_bad_url_override_and_log_level_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {**GOOD, "ALPACA_STREAM_URL": "http://127.0.0.1:1", "LOG_LEVEL": "LOUD"})
    report = validate_config(env_file=None)
    assert {p.variable for p in report.problems} == {"ALPACA_STREAM_URL", "LOG_LEVEL"}


def test_risk_limits_are_decimal_and_symbol_lists_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {"RISK_MAX_ORDER_NOTIONAL": "1234.50", "RISK_SYMBOL_DENYLIST": "gme, amc,"})
    settings = load_settings(None)
    assert settings.risk_max_order_notional == Decimal("1234.50")
    assert settings.symbol_denylist == frozenset({"GME", "AMC"})


def test_ephemeral_settings_generate_keys_and_jwt() -> None:
    a, b = ephemeral_settings(), ephemeral_settings()
    assert a.mode is Mode.SIM
    assert a.credentials() is not None
    assert a.credentials() != b.credentials()
    assert a.jwt_secret_key is not None
    assert len(a.jwt_secret_key.get_secret_value()) >= 32
    assert validate_config(a, env_file=None).ok


def test_env_example_documents_every_setting() -> None:
    from pulsetrader.config import Settings

    example = (Path(__file__).parents[2] / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in example.splitlines()
        if "=" in line and not line.startswith("# ---")
    }
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert not missing, f".env.example lacks {sorted(missing)}"
    settings = load_settings(Path(__file__).parents[2] / ".env.example")
    assert settings.mode is Mode.PAPER
