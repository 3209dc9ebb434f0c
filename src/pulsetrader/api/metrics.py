"""Prometheus metrics of the engine, served at ``/metrics`` in the text format.

Each app has its own :class:`~prometheus_client.CollectorRegistry` (never the process-global
one), so two apps in one process (tests, a restart) do not collide. Events that happen once are
counted through the engine's hooks: fills, rejections and risk denials from the order manager,
broker call latency from the client's :class:`~pulsetrader.broker.hooks.CallOutcome`, stream
reconnects from the stream events. Values the engine already keeps are read when scraped instead
(a collector costs nothing between scrapes): orders by status, stream message counts, the trading
state, equity and health.

``/metrics`` answers loopback clients without a token (a local Prometheus or ``curl``); from any
other address it needs a Bearer access token like the rest of the API, which Prometheus can send
(``authorization`` in the scrape config).
"""

from __future__ import annotations

import ipaddress
from collections import Counter as Tally
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from pulsetrader.api.deps import authenticate, context_of
from pulsetrader.api.schemas import ErrorOut
from pulsetrader.broker.hooks import CallOutcome
from pulsetrader.domain.enums import OrderStatus, TradingState
from pulsetrader.domain.orders import Order
from pulsetrader.execution.book import BookedFill
from pulsetrader.risk.decisions import Denied, RiskDecision
from pulsetrader.streaming.events import StreamEvent

if TYPE_CHECKING:
    from pulsetrader.engine import Engine

#: Broker latency buckets, seconds: a loopback simulator answers in about a millisecond, Alpaca
#: in tens to hundreds, a struggling one in seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class EngineMetrics:
    """The metric families of one app; :meth:`attach` once to the engine's hooks."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.registry = CollectorRegistry()
        r = self.registry
        self.fills = Counter("pulsetrader_fills", "Executions booked", registry=r)
        self.rejections = Counter(
            "pulsetrader_order_rejections", "Orders the broker rejected", registry=r
        )
        self.denials = Counter(
            "pulsetrader_risk_denials",
            "Order intents the risk manager denied",
            ["rule"],
            registry=r,
        )
        self.broker_calls = Histogram(
            "pulsetrader_broker_call_seconds",
            "Broker call attempts by client method, seconds",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.broker_errors = Counter(
            "pulsetrader_broker_call_errors",
            "Broker call attempts that failed, by client method and error type",
            ["endpoint", "error"],
            registry=r,
        )
        self.reconnects = Counter(
            "pulsetrader_stream_reconnects",
            "Stream connections made again after a drop",
            ["stream"],
            registry=r,
        )
        r.register(_LiveCollector(engine))
        # Rejections are counted once per order, however often it is reported rejected.
        self._rejected: set[str] = set()

    def attach(self) -> None:
        """Subscribe to the engine's hooks (there is no detaching: the metrics live as long)."""
        engine = self.engine
        engine.orders.on_fill(self._on_fill)
        engine.orders.on_order(self._on_order)
        engine.orders.on_decision(self._on_decision)
        engine.client.add_hook(self._on_call)
        engine.streams.add_hook(self._on_stream_event)
        for stream in engine.streams.streams:  # every series exists from the start, at zero
            self.reconnects.labels(stream.name)

    def render(self) -> bytes:
        """The Prometheus text exposition of every family."""
        return generate_latest(self.registry)

    def _on_fill(self, booked: BookedFill, order: Order | None) -> None:
        self.fills.inc()

    def _on_order(self, order: Order) -> None:
        if order.status is OrderStatus.REJECTED and order.client_order_id not in self._rejected:
            self._rejected.add(order.client_order_id)
            self.rejections.inc()

    def _on_decision(self, decision: RiskDecision) -> None:
        if isinstance(decision, Denied):
            self.denials.labels(decision.rule).inc()

    def _on_call(self, outcome: CallOutcome) -> None:
        self.broker_calls.labels(outcome.endpoint).observe(outcome.seconds)
        if not outcome.ok:
            self.broker_errors.labels(outcome.endpoint, outcome.error_type or "unknown").inc()

    def _on_stream_event(self, event: StreamEvent) -> None:
        if event.is_reconnect:
            self.reconnects.labels(event.stream).inc()


class _LiveCollector(Collector):
    """Families read from the engine at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        engine = self.engine
        tally = Tally(order.status for order in engine.orders.orders.values())
        orders = GaugeMetricFamily(
            "pulsetrader_orders", "Orders the engine knows, by status", labels=["status"]
        )
        for order_status in OrderStatus:
            orders.add_metric([order_status.value], tally.get(order_status, 0))
        yield orders

        streams = engine.streams
        messages = CounterMetricFamily(
            "pulsetrader_stream_messages", "Messages received, by stream", labels=["stream"]
        )
        for stream in (streams.stocks, streams.crypto):
            messages.add_metric([stream.name], stream.messages)
        messages.add_metric([streams.trade_updates.name], streams.trade_updates.updates)
        yield messages

        state = GaugeMetricFamily(
            "pulsetrader_trading_state", "1 for the current trading state", labels=["state"]
        )
        for trading_state in TradingState:
            state.add_metric([trading_state.value], 1 if engine.risk.state is trading_state else 0)
        yield state

        healthy = engine.monitor.healthy
        yield GaugeMetricFamily(
            "pulsetrader_healthy", "1 while the broker connection is healthy", value=int(healthy)
        )
        account = engine.accounts.last_account
        if account is not None:
            yield GaugeMetricFamily(
                "pulsetrader_equity", "Account equity, USD", value=float(account.equity)
            )
            yield GaugeMetricFamily(
                "pulsetrader_cash", "Account cash, USD", value=float(account.cash)
            )
        yield GaugeMetricFamily(
            "pulsetrader_open_positions",
            "Open positions at the broker (last seen)",
            value=len(engine.accounts.last_positions),
        )


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        },
        401: {"model": ErrorOut, "description": "not from loopback, and no valid access token"},
    },
)
async def metrics(request: Request) -> Response:
    """The engine's metrics. Open to loopback clients; others need a Bearer access token."""
    client = request.client
    if not _is_loopback(client.host if client else None):
        authenticate(request)
    return Response(context_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
