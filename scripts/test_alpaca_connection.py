#!/usr/bin/env python3
"""Check the connection to Alpaca (seed task 15.1): credentials, account, positions, clock,
assets, and the error path, against Alpaca paper or, with ``--sim``, the built-in simulator.

Exit status 0 when every check passes, 1 otherwise.

    python scripts/test_alpaca_connection.py          # Alpaca paper, keys from env / .env
    python scripts/test_alpaca_connection.py --sim    # no keys needed
"""

from __future__ import annotations

import asyncio

from _support import Checks, connect, parse_args

from pulsetrader.broker import NotFound


async def main() -> int:
    args = parse_args(__doc__ or "")
    checks = Checks()
    async with connect(args) as client:

        async def account() -> str:
            a = await client.get_account()
            assert a.equity >= 0, "negative equity"
            return f"equity {a.equity} cash {a.cash} buying power {a.buying_power}"

        async def positions() -> str:
            return f"{len(await client.get_positions())} open position(s)"

        async def clock() -> str:
            c = await client.get_clock()
            state = "open" if c.is_open else "closed"
            return f"market {state}, next open {c.next_open:%Y-%m-%d %H:%MZ}"

        async def asset() -> str:
            a = await client.get_asset("AAPL")
            assert a.tradable, "AAPL is not tradable"
            return f"{a.symbol} {a.exchange} fractionable={a.fractionable}"

        async def not_found() -> str:
            try:
                await client.get_asset("NO-SUCH-TICKER")
            except NotFound:
                return "unknown symbol refused with NotFound"
            raise AssertionError("an unknown symbol was accepted")

        async def latency() -> str:
            samples = sorted([await client.ping() for _ in range(5)])
            return f"ping median {samples[2] * 1000:.1f} ms"

        for name, check in [
            ("account", account),
            ("positions", positions),
            ("clock", clock),
            ("asset", asset),
            ("error mapping", not_found),
            ("latency", latency),
        ]:
            await checks.run(name, check)
    return checks.exit_code()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
