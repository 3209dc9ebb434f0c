"""``pulsetrader demo`` runs simulator, engine and strategies together and stops cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pulsetrader.persistence import Journal


def test_demo_trades_and_shuts_down_gracefully(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "PULSETRADER_"))}
    env["STRATEGIES_FILE"] = ""
    result = subprocess.run(
        [sys.executable, "-m", "pulsetrader.cli", "demo", "--duration", "12", "--speed", "120"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "engine started" in result.stdout
    assert "reconciled (start-up)" in out
    assert "| ACTIVE |" in result.stdout or "| REDUCING |" in result.stdout
    assert "engine stopped" in out
    journals = list((tmp_path / "data" / "demo").glob("*.db"))
    assert len(journals) == 1
    journal = Journal(journals[0])
    try:
        actions = [a["action"] for a in reversed(journal.actions(limit=500))]  # oldest first
    finally:
        journal.close()
    # Reconciled before the strategies started, and shut down cleanly.
    assert actions.index("reconcile") < actions.index("strategies_started")
    assert actions[-1] == "stopped"
