"""The operator commands as a user runs them, against the simulator and a running engine:
``account``, ``positions``, ``orders``, ``halt``, ``resume`` and ``close-all``."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pulsetrader.persistence import Journal
from pulsetrader.sim.service import Simulator

pytestmark = pytest.mark.sim_config(speed=60)


def cli_env(simulator: Simulator, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "PULSETRADER_"))}
    env.update(line.split("=", 1) for line in simulator.env_lines())
    env.update(PULSETRADER_DB=str(tmp_path / "journal.db"), LOG_DIR=str(tmp_path / "logs"))
    env.update(JWT_SECRET_KEY=secrets.token_urlsafe(48), API_PORT="0", API_USERS="")
    return env


async def cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run ``pulsetrader *args``: its exit code, standard output and standard error."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pulsetrader.cli", *args, "--env-file", str(cwd / "none.env"),
        cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def cli_json(env: dict[str, str], cwd: Path, *args: str) -> Any:
    code, out, err = await cli(env, cwd, *args, "--json")
    assert code == 0, out + err
    return json.loads(out)  # standard output is the JSON alone


async def test_reads_come_from_the_broker(simulator: Simulator, tmp_path: Path) -> None:
    env = cli_env(simulator, tmp_path)
    account = await cli_json(env, tmp_path, "account")
    assert Decimal(account["equity"]) > 0
    assert await cli_json(env, tmp_path, "positions") == []
    assert await cli_json(env, tmp_path, "orders", "--status", "all") == []
    code, out, err = await cli(env, tmp_path, "orders", "--status", "bogus")
    assert code != 0
    assert "open, closed or all" in out + err
    assert simulator.secret_key not in out + err


async def test_steering_a_running_engine_then_a_stopped_one(
    simulator: Simulator, tmp_path: Path
) -> None:
    env = cli_env(simulator, tmp_path)
    engine = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pulsetrader.cli", "run", "--plain",
        "--env-file", str(tmp_path / "none.env"), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert engine.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("engine started" in line for line in seen):
                line = (await engine.stdout.readline()).decode()
                assert line, "".join(seen)
                seen.append(line)
        halted = await cli_json(env, tmp_path, "halt", "--reason", "coffee")
        assert halted == {
            "engine": "running",
            "changed": True,
            "state": "HALTED",
            "reason": "coffee",
        }
        resumed = await cli_json(env, tmp_path, "resume")
        assert resumed["engine"] == "running"
        assert resumed["state"] == "ACTIVE"
        code, out, err = await cli(env, tmp_path, "close-all")  # no --yes, no answer: nothing
        assert code == 1, out + err
        closed = await cli_json(env, tmp_path, "close-all", "--yes")
        assert closed == {"engine": "running", "count": 0, "results": []}
        engine.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await engine.communicate()
    finally:
        if engine.returncode is None:
            engine.kill()
    assert engine.returncode == 0

    offline = await cli_json(env, tmp_path, "halt")
    assert offline["engine"] == "not running"
    assert offline["state"] == "HALTED"
    with Journal(tmp_path / "journal.db") as journal:
        rows = [
            (a["actor"].split(":")[0], a["detail"]["to"])
            for a in reversed(journal.actions(limit=500))
            if a["action"] == "trading_state"
        ]
        assert rows == [("cli", "HALTED"), ("cli", "ACTIVE"), ("cli", "HALTED")]
        actions = [a["action"] for a in journal.actions(limit=500)]
        assert "close_all" in actions
