"""A PulseTrader process that dies by SIGKILL in the middle of submitting an order.

Run by ``test_crash_recovery.py`` as ``python -m tests.integration.execution.crash_child``
against the test's simulator (over loopback, with its keys) and a file journal. It builds the
order stack as the engine does, reconciles, then submits one market buy with the given
client_order_id and kills itself at ``--die``:

* ``before-send``: ``AlpacaClient.submit_order`` is wrapped so that the process dies on entry,
  i.e. right after the journal committed the intent and before the broker heard anything;
* ``after-accept``: a call hook kills it as soon as the broker's successful answer to
  ``submit_order`` arrives, before the order manager merges (or journals) it.

Exit status 3 means it survived the submission, which the test treats as a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal

from pulsetrader.account import AccountManager
from pulsetrader.broker import AlpacaClient, BrokerConfig, CallOutcome
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.execution import OrderManager
from pulsetrader.market_data.feed import MarketDataFeed
from pulsetrader.persistence import Journal
from pulsetrader.risk import RiskManager


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--journal", required=True)
    parser.add_argument("--coid", required=True)
    parser.add_argument("--symbol", default="AAPL")
    parser.add_argument("--qty", default="3")
    parser.add_argument("--die", choices=["before-send", "after-accept"], required=True)
    parser.add_argument("--sim-now", required=True, help="the simulator's time at --wall")
    parser.add_argument("--wall", type=float, required=True, help="time.time() at --sim-now")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> int:
    sim_now, wall = datetime.fromisoformat(args.sim_now), args.wall

    def clock() -> datetime:  # the simulator runs at speed 1 from sim_now
        return sim_now + timedelta(seconds=time.time() - wall)

    config = BrokerConfig(
        args.key_id,
        args.secret_key,
        trading_url=args.base_url,
        data_url=args.base_url,
        requests_per_minute=None,
        timeout=5.0,
    )
    client = AlpacaClient(config, clock=clock)
    journal = Journal(args.journal)
    accounts = AccountManager(client, ttl=0.5)
    orders = OrderManager(
        client, accounts, MarketDataFeed(client), RiskManager(store=journal, clock=clock), journal
    )
    await orders.reconcile("start-up")

    if args.die == "before-send":

        async def send_and_die(intent: OrderIntent, client_order_id: str | None = None) -> None:
            # The manager journals the intent first: it must be durable by now.
            assert journal.get_order(client_order_id or "") is not None
            print("intent journaled; dying before the broker is called", flush=True)
            die()

        client.submit_order = send_and_die  # type: ignore[assignment,method-assign]
    else:

        def die_on_acceptance(outcome: CallOutcome) -> None:
            if outcome.endpoint == "submit_order" and outcome.ok:
                print("accepted by the broker; dying before the answer is merged", flush=True)
                die()

        client.add_hook(die_on_acceptance)

    intent = OrderIntent(
        symbol=args.symbol, side="buy", qty=Decimal(args.qty), client_order_id=args.coid
    )
    result = await orders.submit_order(intent)
    print(f"survived the submission: {result!r}", flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
