"""``pulsetrader demo`` runs simulator, engine and strategies together and stops cleanly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from pulsetrader.persistence import Journal


def test_demo_trades_serves_the_dashboard_and_shuts_down_gracefully(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "PULSETRADER_"))}
    env["STRATEGIES_FILE"] = ""
    command = [sys.executable, "-m", "pulsetrader.cli", "demo", "--duration", "15"]
    with subprocess.Popen(
        [*command, "--speed", "120", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        seen: list[str] = []
        try:
            while not any("Ctrl-C to stop" in line for line in seen):
                line = proc.stdout.readline()
                assert line, "".join(seen)
                seen.append(line)
            text = "".join(seen)
            url = re.search(r"dashboard and API on (http://\S+?)/ ", text)
            password = re.search(r"user demo, password (\S+)", text)
            assert url, text
            assert password, text
            # What a newcomer does next: open the address and log in with what was printed.
            with httpx.Client(base_url=url.group(1), timeout=10) as client:
                assert "<html" in client.get("/").text.lower()
                token = client.post(
                    "/api/auth/token", data={"username": "demo", "password": password.group(1)}
                )
                assert token.status_code == 200, token.text
                bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
                status = client.get("/api/status", headers=bearer)
                assert status.status_code == 200, status.text
                assert status.json()["trading_state"] in ("ACTIVE", "REDUCING")
            rest, _ = proc.communicate(timeout=90)
        finally:
            if proc.returncode is None:
                proc.kill()
    out = "".join(seen) + rest
    assert proc.returncode == 0, out
    assert "reconciled (start-up)" in out
    assert "| ACTIVE |" in out or "| REDUCING |" in out
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
