"""Property 4, subscription scalability.

Pure: :func:`subscription_messages` covers exactly its input, each (channel, symbol) once, and
every message stays within the protocol's symbol and byte limits.

Against the simulator: after any sequence of subscribe, unsubscribe and reconnect (our side
hanging up, or the server's) over thousands of symbols, the server's subscription equals the
requested set, in the client's view (the server's acknowledgements) and in the simulator's own
record, and every message the client sent stayed within the limits. The ``test`` feed has no
symbol limit and generates data only for FAKEPACA, so thousands of symbols cost nothing but the
subscription itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.sim.service import Simulator
from pulsetrader.streaming import MarketDataStream, ReconnectPolicy
from pulsetrader.streaming import protocol as proto
from tests.helpers import eventually
from tests.simulator import SimThread

# -- pure: the batching -----------------------------------------------------------------------

SYMBOL = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=24)
#: Symbols whose UTF-8 form is two or three times their length.
WIDE = st.text(
    st.characters(min_codepoint=0x800, max_codepoint=0xFFFF, exclude_categories=("Cs",)),
    min_size=8,
    max_size=24,
)
TICKER = st.from_regex(r"[A-Z]{1,5}(/USD)?", fullmatch=True)
CHANGES = st.dictionaries(
    st.sampled_from((*proto.CHANNELS, "dailyBars", "statuses", "lulds")),
    st.one_of(
        st.lists(st.one_of(TICKER, SYMBOL), max_size=200),
        st.lists(WIDE, max_size=150),
    ),
    max_size=7,
)


def message_symbols(message: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, s) for k, v in message.items() if k != "action" for s in v]


@given(
    action=st.sampled_from(["subscribe", "unsubscribe"]),
    changes=CHANGES,
    max_symbols=st.integers(1, 300),
    max_bytes=st.integers(300, 8_000),
)
def test_batches_cover_the_change_exactly_and_respect_the_limits(
    action: str, changes: dict[str, list[str]], max_symbols: int, max_bytes: int
) -> None:
    messages = proto.subscription_messages(
        action, changes, max_symbols=max_symbols, max_bytes=max_bytes
    )
    sent = [pair for m in messages for pair in message_symbols(m)]
    assert len(sent) == len(set(sent)), "a symbol was sent twice"
    assert set(sent) == {(c, s) for c, symbols in changes.items() for s in symbols}
    for message in messages:
        assert message["action"] == action
        assert all(message[k] for k in message if k != "action"), "an empty channel was sent"
        assert len(message_symbols(message)) <= max_symbols
        assert len(proto.pack(message)) <= max_bytes, len(proto.pack(message))


@given(changes=CHANGES)
def test_the_default_limits_hold(changes: dict[str, list[str]]) -> None:
    for message in proto.subscription_messages("subscribe", changes):
        assert len(message_symbols(message)) <= proto.MAX_SUBSCRIBE_SYMBOLS
        assert len(proto.pack(message)) <= proto.MAX_SUBSCRIBE_BYTES


# -- against the simulator -----------------------------------------------------------------------

UNIVERSE = [f"U{i:04d}" for i in range(6000)]
SENTINEL = "ZZSENTINEL"
BARRIER_CHANNEL = max(proto.CHANNELS)
assert all(SENTINEL > symbol for symbol in UNIVERSE)
SPAN = st.tuples(st.integers(0, len(UNIVERSE) - 1), st.integers(1, 3000), st.integers(1, 7))
CHANNEL = st.sampled_from(proto.CHANNELS)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("subscribe"), CHANNEL, SPAN),
        st.tuples(st.just("unsubscribe"), CHANNEL, SPAN),
        st.tuples(st.just("drop")),  # we hang up
        st.tuples(st.just("kick")),  # the server hangs up (fault injection)
    ),
    min_size=1,
    max_size=8,
)


def symbols_of(span: tuple[int, int, int]) -> list[str]:
    start, count, step = span
    return [UNIVERSE[(start + k * step) % len(UNIVERSE)] for k in range(count)]


class NullSink:
    def on_trade(self, trade: Trade) -> None: ...

    def on_quote(self, quote: Quote) -> None: ...

    def on_bar(self, bar: Bar) -> None: ...

    def on_updated_bar(self, bar: Bar) -> None: ...


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[SimThread]:
    """One simulator for every example, its clock stopped: only subscriptions matter here."""
    runner = SimThread(speed=0.0)
    with runner:
        yield runner


def _on_sim(runner: SimThread, fn: Any) -> Any:
    async def call() -> Any:
        return fn()

    return runner.call(call())


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
@example(  # reconnects between large subscriptions (once a barrier-ordering pitfall)
    ops=[
        ("drop",),
        ("subscribe", "updatedBars", (1791, 1950, 3)),
        ("drop",),
        ("subscribe", "updatedBars", (671, 422, 3)),
        ("unsubscribe", "bars", (427, 279, 1)),
        ("kick",),
        ("subscribe", "trades", (3149, 3000, 1)),
    ]
)
def test_the_server_holds_exactly_the_requested_subscription(
    shared_sim: SimThread, ops: list[tuple[Any, ...]]
) -> None:
    sim = shared_sim.sim
    assert sim is not None
    asyncio.run(_scenario(shared_sim, sim, ops))


async def _scenario(runner: SimThread, sim: Simulator, ops: list[tuple[Any, ...]]) -> None:
    stream = MarketDataStream(
        "test",
        sim.ws_url + "/v2/test",
        sim.key_id,
        sim.secret_key,
        NullSink(),
        silence_timeout=None,
        policy=ReconnectPolicy(
            base_delay=0.01, max_delay=0.05, limit_delay=0.05, limit_max_delay=0.1
        ),
    )
    stream.keep_sent = True
    expected: dict[str, set[str]] = {c: set() for c in proto.CHANNELS}
    kicked = False
    stream.start()
    try:
        await stream.wait_connected()
        for op in ops:
            if op[0] == "subscribe":
                _, channel, span = op
                await stream.subscribe(channel, symbols_of(span))
                expected[channel] |= set(symbols_of(span))
            elif op[0] == "unsubscribe":
                _, channel, span = op
                await stream.unsubscribe(channel, symbols_of(span))
                expected[channel] -= set(symbols_of(span))
            elif op[0] == "drop":
                await stream.drop()
            else:
                rule = {"stream": "test", "effect": "disconnect", "at_seconds": [0], "count": 1}
                profile = FaultProfile.parse({"seed": 1, "rules": [rule]})
                _on_sim(runner, lambda: sim.faults.load(profile))
                kicked = True
        assert stream.wanted == expected

        if kicked:  # let a pending server-side hang-up happen before looking
            await eventually(
                lambda: _on_sim(runner, lambda: sim.faults.snapshot()["rules"][0]["fired"]),
                message="the server's hang-up",
            )
            _on_sim(runner, sim.faults.clear)
        # A barrier: the server handles a connection's messages in order, so once it confirms
        # the sentinel it has applied everything sent before it. Batches go channel by channel
        # and symbol by symbol in sorted order, so the sentinel sorts last on both counts: even
        # inside a reconnect's full resubscription it is the last thing sent.
        await stream.subscribe(BARRIER_CHANNEL, [SENTINEL])
        await eventually(
            lambda: stream.connected and SENTINEL in stream.server_subscriptions[BARRIER_CHANNEL],
            timeout=10,
            message="the barrier's acknowledgement",
        )
        want = {c: set(s) for c, s in expected.items()}
        want[BARRIER_CHANNEL].add(SENTINEL)
        assert stream.server_subscriptions == want
        held = _on_sim(runner, lambda: sim.hub.subscriptions("test"))
        assert held == [{c: s for c, s in want.items() if s}]

        for message in stream.sent_messages:
            assert len(message_symbols(message)) <= proto.MAX_SUBSCRIBE_SYMBOLS
            assert len(proto.pack(message)) <= proto.MAX_SUBSCRIBE_BYTES
    finally:
        await stream.stop()
        _on_sim(runner, sim.faults.clear)
