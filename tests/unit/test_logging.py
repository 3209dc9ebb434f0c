"""Secrets never reach a log sink: messages, bound extras, exceptions, tracebacks, headers."""

from __future__ import annotations

import json
import logging as std_logging
from pathlib import Path

import pytest

from pulsetrader.logging import logger, setup_logging
from pulsetrader.secrets import Redactor, mask_secret, redactor

SECRETS = [
    "PKTESTKEY1234567890X",
    "s3cr3tVALUEabcdefghijklmnopqrstuvwxyz0123",
    "k8Jq2m-Vd9xYw3LzT5rBn7Pc1Hs6Ge4Fa0Ut_QoRiNy",
]


@pytest.fixture
def log_dir(tmp_path: Path):
    redactor.clear()
    setup_logging("DEBUG", tmp_path / "logs", json_lines=True, secrets=SECRETS)
    yield tmp_path / "logs"
    logger.remove()
    redactor.clear()


def _all_output(log_dir: Path, captured: str) -> str:
    logger.complete()
    files = "".join(p.read_text() for p in log_dir.iterdir())
    return captured + files


def test_configured_secrets_never_reach_any_sink(log_dir: Path, capsys) -> None:
    for secret in SECRETS:
        logger.info("message carries {}", secret)
        logger.bind(credential=secret, nested={"inner": [secret]}).warning("bound extra")
        try:
            raise RuntimeError(f"exception text {secret}")
        except RuntimeError:
            logger.exception("failure while using key")
        std_logging.getLogger("alpaca.common.rest").error("third-party log %s", secret)
    out = _all_output(log_dir, capsys.readouterr().err)
    assert "exception text [REDACTED]" in out
    assert "Traceback" in out
    for secret in SECRETS:
        assert secret not in out


def test_json_lines_are_valid_and_redacted(log_dir: Path) -> None:
    logger.bind(order_id="abc").info("submitted with secret {}", SECRETS[1])
    logger.complete()
    lines = (log_dir / "pulsetrader.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])["record"]
    assert record["message"] == "submitted with secret [REDACTED]"
    assert record["extra"]["order_id"] == "abc"


def test_credential_headers_and_bearer_tokens_are_redacted_even_if_unknown() -> None:
    red = Redactor()
    text = red.redact(
        "headers={'APCA-API-KEY-ID': 'PKUNKNOWN000', 'APCA-API-SECRET-KEY': 'zzzsecretzzz'} "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig"
    )
    assert "PKUNKNOWN000" not in text
    assert "zzzsecretzzz" not in text
    assert "eyJhbGciOiJIUzI1NiJ9" not in text


def test_mask_secret_shows_prefix_and_suffix_only() -> None:
    assert mask_secret("PKABCDEFGHIJ9XQ") == "PK…9XQ"
    assert mask_secret("short") == "…"
    assert mask_secret(None) == "(not set)"


def test_log_level_filters(tmp_path: Path, capsys) -> None:
    setup_logging("WARNING", tmp_path / "logs")
    logger.info("quiet info")
    logger.warning("loud warning")
    err = capsys.readouterr().err
    assert "loud warning" in err
    assert "quiet info" not in err
    logger.remove()
