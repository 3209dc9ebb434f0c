"""``pulsetrader run`` against a simulator reached through the URL overrides, as a user would."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path

from pulsetrader.sim.service import Simulator


async def test_run_starts_against_the_overrides_and_stops_on_sigterm(
    simulator: Simulator, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "PULSETRADER_"))}
    env.update(line.split("=", 1) for line in simulator.env_lines())
    env.update(PULSETRADER_DB=str(tmp_path / "journal.db"), LOG_DIR=str(tmp_path / "logs"))
    env.update(JWT_SECRET_KEY=secrets.token_urlsafe(48), API_PORT="0", API_USERS="")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pulsetrader.cli", "run", "--env-file", str(tmp_path / "none.env"),
        cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("engine started" in line for line in seen):
                line = (await proc.stdout.readline()).decode()
                assert line, "".join(seen)
                seen.append(line)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            rest, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
    out = "".join(seen) + rest.decode()
    assert proc.returncode == 0, out
    assert "reconciled (start-up)" in out
    assert "engine stopped" in out
    assert (tmp_path / "journal.db").exists()
    assert simulator.secret_key not in out
