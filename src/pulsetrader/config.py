"""Typed configuration from the environment and ``.env``, and the start-up validation report.

:class:`Settings` is frozen and loaded once at start-up. :func:`validate_config` checks it and
returns a :class:`ConfigReport` listing *every* problem at once, each with how to fix it, so a user
fixes their ``.env`` in one pass instead of one restart per mistake.

Modes: ``ALPACA_MODE`` chooses ``paper`` (the default) or ``live``. Live trading additionally needs
``PULSETRADER_LIVE_CONFIRM=yes`` (or ``pulsetrader run --confirm-live``): a second, deliberate
opt-in. The simulator and the demo need no user credentials; they generate ephemeral keys
(:func:`ephemeral_settings`).
"""

from __future__ import annotations

import secrets as _secrets
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pulsetrader.secrets import mask_secret

ENV_FILE = Path(".env")
LIVE_CONFIRM_VALUE = "yes"
MIN_JWT_SECRET_LENGTH = 32
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")

# Values people leave in from examples and tutorials. A credential containing one of these, or
# made of one repeated character, is refused.
_PLACEHOLDER_WORDS = (
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "your_",
    "your-",
    "yourkey",
    "yoursecret",
    "example",
    "replace",
    "xxxx",
    "secret_key_here",
    "insert",
    "dummy",
    "<",
)


class Mode(StrEnum):
    """Which broker the engine talks to. ``sim`` is chosen by the CLI, never by ALPACA_MODE."""

    PAPER = "paper"
    LIVE = "live"
    SIM = "sim"


def is_placeholder(value: str) -> bool:
    """True for values that look copied from an example rather than real."""
    lowered = value.strip().lower()
    if not lowered:
        return True
    if len(set(lowered)) == 1:
        return True
    return any(word in lowered for word in _PLACEHOLDER_WORDS)


class Settings(BaseSettings):
    """Every setting PulseTrader reads. Environment variable names are the field names upper-cased.

    Secrets are ``SecretStr`` so they never print by accident; use :func:`mask_secret` to show them.
    """

    model_config = SettingsConfigDict(
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        case_sensitive=False,
    )

    # --- broker -------------------------------------------------------------------------------
    alpaca_mode: str = Field(
        "paper", description="paper or live; anything else falls back to paper"
    )
    alpaca_paper_api_key: SecretStr | None = None
    alpaca_paper_api_secret: SecretStr | None = None
    alpaca_live_api_key: SecretStr | None = None
    alpaca_live_api_secret: SecretStr | None = None
    pulsetrader_live_confirm: str | None = Field(
        None, description="must be 'yes' (or pass --confirm-live) to trade real money"
    )
    alpaca_trading_url: str | None = None
    alpaca_data_url: str | None = None
    alpaca_stream_url: str | None = None
    alpaca_trade_stream_url: str | None = None
    alpaca_data_feed: Literal["iex", "sip"] = "iex"
    alpaca_requests_per_minute: int = Field(200, ge=1, le=10_000)
    alpaca_request_timeout: float = Field(10.0, gt=0, le=120)

    # --- API ----------------------------------------------------------------------------------
    jwt_secret_key: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)
    api_users: str | None = Field(
        None, description="comma-separated user:argon2-hash pairs (see `pulsetrader create-user`)"
    )

    # --- storage and logs ---------------------------------------------------------------------
    pulsetrader_db: Path = Path("data/pulsetrader.db")
    log_level: str = "INFO"
    log_dir: Path = Path("logs")
    log_json: bool = False

    # --- engine -------------------------------------------------------------------------------
    strategies_file: Path | None = None
    cancel_orders_on_shutdown: bool = True
    close_positions_on_shutdown: bool = False

    # --- risk limits --------------------------------------------------------------------------
    risk_max_position_pct: Decimal = Field(Decimal("20"), gt=0, le=100)
    risk_max_position_notional: Decimal = Field(Decimal("25000"), gt=0)
    risk_max_order_notional: Decimal = Field(Decimal("10000"), gt=0)
    risk_max_open_positions: int = Field(10, ge=0)
    risk_max_open_stock_positions: int = Field(8, ge=0)
    risk_max_open_crypto_positions: int = Field(4, ge=0)
    risk_daily_loss_limit: Decimal = Field(Decimal("2000"), gt=0)
    risk_max_drawdown_pct: Decimal = Field(Decimal("10"), gt=0, le=100)
    risk_max_orders_per_minute: int = Field(30, ge=1)
    risk_symbol_allowlist: str = ""
    risk_symbol_denylist: str = ""

    # --- connection health (preservation mode) ---------------------------------------------------
    health_error_threshold: int = Field(5, ge=1, le=1000)
    health_healthy_period: float = Field(60.0, ge=0, le=86_400)
    health_slow_call_seconds: float = Field(2.0, gt=0, le=120)
    health_ping_interval: float = Field(15.0, gt=0, le=3600)
    health_reconnect_storm: int = Field(3, ge=1, le=1000)
    health_reconnect_window: float = Field(60.0, gt=0, le=86_400)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "alpaca_trading_url",
        "alpaca_data_url",
        "alpaca_stream_url",
        "alpaca_trade_stream_url",
        "strategies_file",
        "api_users",
        "pulsetrader_live_confirm",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "alpaca_paper_api_key",
        "alpaca_paper_api_secret",
        "alpaca_live_api_key",
        "alpaca_live_api_secret",
        "jwt_secret_key",
        mode="before",
    )
    @classmethod
    def _empty_secret_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    # --- derived ------------------------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        """The effective mode: ``live`` only when ALPACA_MODE says so exactly; else ``paper``.

        ``sim`` is never read from the environment: :func:`ephemeral_settings` sets it.
        """
        raw = self.alpaca_mode.strip().lower()
        if raw in (Mode.LIVE.value, Mode.SIM.value):
            return Mode(raw)
        return Mode.PAPER

    @property
    def live_confirmed(self) -> bool:
        return (self.pulsetrader_live_confirm or "").strip().lower() == LIVE_CONFIRM_VALUE

    def credentials(self) -> tuple[str, str] | None:
        """The (key id, secret) pair for the effective mode, or None when either is missing."""
        if self.mode is Mode.LIVE:
            key, secret = self.alpaca_live_api_key, self.alpaca_live_api_secret
        else:
            key, secret = self.alpaca_paper_api_key, self.alpaca_paper_api_secret
        if key is None or secret is None:
            return None
        return key.get_secret_value(), secret.get_secret_value()

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor."""
        values = [
            self.alpaca_paper_api_key,
            self.alpaca_paper_api_secret,
            self.alpaca_live_api_key,
            self.alpaca_live_api_secret,
            self.jwt_secret_key,
        ]
        return [v.get_secret_value() for v in values if v is not None]

    @property
    def symbol_allowlist(self) -> frozenset[str]:
        return _symbol_set(self.risk_symbol_allowlist)

    @property
    def symbol_denylist(self) -> frozenset[str]:
        return _symbol_set(self.risk_symbol_denylist)


def _symbol_set(raw: str) -> frozenset[str]:
    return frozenset(s.strip().upper() for s in raw.split(",") if s.strip())


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration, and how to fix it."""

    variable: str
    message: str
    fix: str


@dataclass(slots=True)
class ConfigReport:
    """The outcome of :func:`validate_config`: problems (fatal), warnings and a masked summary."""

    settings: Settings | None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, str] = field(default_factory=dict)
    env_file_found: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """Plain-text report: every problem with its fix, then warnings."""
        lines: list[str] = []
        if self.ok:
            lines.append("Configuration OK.")
        else:
            lines.append(f"Configuration has {len(self.problems)} problem(s):")
            for p in self.problems:
                lines.append(f"  - {p.variable}: {p.message}\n      fix: {p.fix}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


_ENV_HELP = (
    "copy .env.example to .env (`cp .env.example .env`) and fill in the values, "
    "or export the variables in your shell"
)


def load_settings(env_file: Path | None = ENV_FILE, **overrides: Any) -> Settings:
    """Load settings from the environment and ``env_file``. Raises pydantic's ValidationError."""
    return Settings(_env_file=env_file, **overrides)


def validate_config(
    settings: Settings | None = None,
    *,
    env_file: Path | None = ENV_FILE,
    require_api: bool = True,
    confirm_live: bool = False,
) -> ConfigReport:
    """Check the configuration and report every problem at once.

    ``require_api``: the JWT secret is needed wherever the API runs (``run`` and ``demo``).
    ``confirm_live``: the ``--confirm-live`` CLI flag, an alternative to PULSETRADER_LIVE_CONFIRM.
    Never raises for a configuration problem.
    """
    env_found = env_file is None or env_file.exists()
    report = ConfigReport(settings=None, env_file_found=env_found)
    if settings is None:
        try:
            settings = load_settings(env_file)
        except ValidationError as exc:
            for err in exc.errors():
                name = str(err["loc"][0]).upper() if err["loc"] else "?"
                report.problems.append(
                    Problem(name, err["msg"], f"set {name} to a valid value (see .env.example)")
                )
            if not env_found:
                report.warnings.append(f"no {env_file} file found: {_ENV_HELP}")
            return report
    report.settings = settings
    _check_mode(settings, report, confirm_live)
    _check_credentials(settings, report)
    if require_api:
        _check_jwt(settings, report)
    _check_urls(settings, report)
    if settings.log_level not in LOG_LEVELS:
        report.problems.append(
            Problem(
                "LOG_LEVEL", f"unknown level {settings.log_level!r}", f"use one of {LOG_LEVELS}"
            )
        )
    if not env_found:
        message = f"no {env_file} file found: {_ENV_HELP}"
        if report.problems:
            report.problems.append(Problem(".env", "file not found", _ENV_HELP))
        else:
            report.warnings.append(message + " (the environment provided everything needed)")
    report.summary = summarize(settings)
    return report


def _check_mode(settings: Settings, report: ConfigReport, confirm_live: bool) -> None:
    raw = settings.alpaca_mode.strip().lower()
    if raw not in (Mode.PAPER.value, Mode.LIVE.value, Mode.SIM.value):
        report.warnings.append(
            f"ALPACA_MODE={settings.alpaca_mode!r} is not 'paper' or 'live'; using paper"
        )
    if settings.mode is Mode.LIVE and not (settings.live_confirmed or confirm_live):
        report.problems.append(
            Problem(
                "PULSETRADER_LIVE_CONFIRM",
                "ALPACA_MODE=live trades real money and needs a second, explicit confirmation",
                "set PULSETRADER_LIVE_CONFIRM=yes or pass --confirm-live, or set ALPACA_MODE=paper",
            )
        )


def _check_credentials(settings: Settings, report: ConfigReport) -> None:
    if settings.mode is Mode.SIM:
        return
    prefix = "ALPACA_LIVE" if settings.mode is Mode.LIVE else "ALPACA_PAPER"
    where = (
        "https://app.alpaca.markets (Live Trading -> API Keys)"
        if settings.mode is Mode.LIVE
        else "https://app.alpaca.markets/paper/dashboard/overview (API Keys)"
    )
    pairs = (
        (f"{prefix}_API_KEY", getattr(settings, f"{prefix.lower()}_api_key")),
        (f"{prefix}_API_SECRET", getattr(settings, f"{prefix.lower()}_api_secret")),
    )
    for name, value in pairs:
        if value is None:
            report.problems.append(
                Problem(name, "missing", f"create a key pair at {where} and set {name}")
            )
        elif is_placeholder(value.get_secret_value()):
            report.problems.append(
                Problem(name, "looks like a placeholder", f"replace it with your key from {where}")
            )


def _check_jwt(settings: Settings, report: ConfigReport) -> None:
    fix = (
        'generate one with `python -c "import secrets; print(secrets.token_urlsafe(48))"` '
        "and set JWT_SECRET_KEY"
    )
    if settings.jwt_secret_key is None:
        report.problems.append(Problem("JWT_SECRET_KEY", "missing (there is no default)", fix))
        return
    value = settings.jwt_secret_key.get_secret_value()
    if len(value) < MIN_JWT_SECRET_LENGTH:
        report.problems.append(
            Problem(
                "JWT_SECRET_KEY",
                f"too short ({len(value)} characters; at least {MIN_JWT_SECRET_LENGTH} needed)",
                fix,
            )
        )
    elif is_placeholder(value) or value.lower().startswith(("secret", "password", "jwt")):
        report.problems.append(Problem("JWT_SECRET_KEY", "looks like a placeholder", fix))


def _check_urls(settings: Settings, report: ConfigReport) -> None:
    checks = (
        ("ALPACA_TRADING_URL", settings.alpaca_trading_url, ("http", "https")),
        ("ALPACA_DATA_URL", settings.alpaca_data_url, ("http", "https")),
        ("ALPACA_STREAM_URL", settings.alpaca_stream_url, ("ws", "wss")),
        ("ALPACA_TRADE_STREAM_URL", settings.alpaca_trade_stream_url, ("ws", "wss")),
    )
    for name, value, schemes in checks:
        if value is None:
            continue
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not parsed.netloc:
            report.problems.append(
                Problem(
                    name,
                    f"{value!r} is not a {'/'.join(schemes)} URL",
                    f"use e.g. {schemes[0]}://127.0.0.1:8765, or unset {name} for Alpaca's own",
                )
            )


def summarize(settings: Settings) -> dict[str, str]:
    """A human summary of the configuration with every secret masked."""

    def secret(value: SecretStr | None) -> str:
        return mask_secret(value.get_secret_value() if value else None)

    return {
        "mode": settings.mode.value,
        "paper key": secret(settings.alpaca_paper_api_key),
        "paper secret": secret(settings.alpaca_paper_api_secret),
        "live key": secret(settings.alpaca_live_api_key),
        "live secret": secret(settings.alpaca_live_api_secret),
        "live confirmed": str(settings.live_confirmed),
        "jwt secret": secret(settings.jwt_secret_key),
        "trading url": settings.alpaca_trading_url or "(Alpaca default)",
        "data url": settings.alpaca_data_url or "(Alpaca default)",
        "stream url": settings.alpaca_stream_url or "(Alpaca default)",
        "trade stream url": settings.alpaca_trade_stream_url or "(Alpaca default)",
        "data feed": settings.alpaca_data_feed,
        "database": str(settings.pulsetrader_db),
        "log level": settings.log_level,
        "log dir": str(settings.log_dir),
        "api": f"{settings.api_host}:{settings.api_port}",
    }


def generate_secret(nbytes: int = 32) -> str:
    """A random URL-safe secret, for ephemeral simulator keys and demo JWT secrets."""
    return _secrets.token_urlsafe(nbytes)


def ephemeral_settings(base: Settings | None = None, **overrides: Any) -> Settings:
    """Settings for sim/demo mode: random key pair and JWT secret, used for this process only.

    Nothing here touches real Alpaca, so no user credentials are needed; the keys are printed
    (masked) so the user knows they were generated.
    """
    if base is None:
        base = load_settings()
    values: dict[str, Any] = {
        "alpaca_mode": Mode.SIM.value,
        "alpaca_paper_api_key": SecretStr("PK" + _secrets.token_hex(9).upper()),
        "alpaca_paper_api_secret": SecretStr(generate_secret(30)),
        "jwt_secret_key": SecretStr(generate_secret(48)),
    }
    values.update(overrides)
    return base.model_copy(update=values)
