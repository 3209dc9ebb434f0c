"""The seed's integration scripts (task 15), run as CI runs them: ``--sim``, exit status 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.mark.parametrize(
    "script",
    [
        "test_alpaca_connection.py",
        "test_market_data.py",
        "test_websocket_streaming.py",
        "test_order_submission.py",
    ],
)
def test_script_passes_against_the_simulator(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / script), "--sim"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    assert "FAIL" not in result.stdout
