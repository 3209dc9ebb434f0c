"""`pulsetrader check`: exit codes and the report a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pulsetrader.cli import app

runner = CliRunner()


def test_check_in_empty_environment_lists_missing_variables_and_exits_1() -> None:
    result = runner.invoke(app, ["check"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    for name in ("ALPACA_PAPER_API_KEY", "ALPACA_PAPER_API_SECRET", "JWT_SECRET_KEY"):
        assert name in result.output
    assert ".env.example" in result.output


def test_check_with_valid_env_file_exits_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text(
        "ALPACA_PAPER_API_KEY=PKTESTKEY1234567890X\n"
        "ALPACA_PAPER_API_SECRET=s3cr3tVALUEabcdefghijklmnopqrstuvwxyz0123\n"
        "JWT_SECRET_KEY=k8Jq2m-Vd9xYw3LzT5rBn7Pc1Hs6Ge4Fa0Ut_QoRiNy\n"
    )
    result = runner.invoke(app, ["check"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Configuration OK" in result.output
    assert "s3cr3tVALUE" not in result.output
