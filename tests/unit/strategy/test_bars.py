"""Bar frames to Bars, and minute bars aggregated to larger timeframes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pulsetrader.domain import Timeframe
from pulsetrader.strategy.bars import BarAggregator, bar_start, bars_from_frame
from tests.unit.strategy.fakes import T0, bar, frame_of

D = Decimal


def test_a_frame_converts_back_to_the_bars_it_was_made_of_with_exact_decimals() -> None:
    bars = [
        bar("AAPL", 0, "10.25", high="10.5", low="10.1", volume="1.5", vwap="10.3"),
        bar("AAPL", 1, "10.35", volume=200, trade_count=None),
    ]
    back = bars_from_frame("aapl", frame_of(bars))
    assert back == bars
    assert back[0].close == D("10.25")  # through the float's text, not its binary value
    assert back[1].trade_count is None
    assert back[1].vwap is None


def test_an_unsorted_frame_gives_bars_oldest_first() -> None:
    bars = [bar("MSFT", i, 100 + i) for i in range(3)]
    frame = frame_of(bars).iloc[::-1]
    assert [b.timestamp for b in bars_from_frame("MSFT", frame)] == [b.timestamp for b in bars]


def test_an_empty_frame_gives_no_bars() -> None:
    assert bars_from_frame("AAPL", frame_of([])) == []


def test_bar_start_aligns_to_multiples_of_the_length_since_the_epoch() -> None:
    at = datetime(2024, 6, 3, 14, 7, 30, tzinfo=UTC)
    assert bar_start(at, timedelta(minutes=5)) == datetime(2024, 6, 3, 14, 5, tzinfo=UTC)
    assert bar_start(at, timedelta(hours=1)) == datetime(2024, 6, 3, 14, 0, tzinfo=UTC)


def five() -> BarAggregator:
    return BarAggregator(Timeframe.parse("5Min"))


def test_five_minute_bars_are_emitted_when_their_last_minute_arrives() -> None:
    agg = five()
    minutes = [
        bar("AAPL", 0, "10", open="9", high="10.5", low="8.5", volume=100, vwap="9.5"),
        bar("AAPL", 1, "11", open="10", high="12", low="10", volume=100, vwap="11"),
        bar("AAPL", 2, "10.5", volume=200, vwap="10.5"),
        bar("AAPL", 3, "10", volume=100, vwap="10"),
    ]
    assert [agg.add(m) for m in minutes] == [[], [], [], []]
    assert agg.pending("AAPL") is not None
    done = agg.add(bar("AAPL", 4, "9.5", low="8", volume=500, vwap="9"))
    assert len(done) == 1
    five_min = done[0]
    assert five_min.timestamp == T0
    assert (five_min.open, five_min.high, five_min.low, five_min.close) == (
        D(9),
        D(12),
        D(8),
        D("9.5"),
    )
    assert five_min.volume == D(1000)
    assert five_min.trade_count == 50
    # (9.5*100 + 11*100 + 10.5*200 + 10*100 + 9*500) / 1000
    assert five_min.vwap == D("9.65")
    assert agg.pending("AAPL") is None


def test_a_bar_whose_last_minute_had_no_trades_is_emitted_by_the_next_bar() -> None:
    agg = five()
    for m in range(3):
        assert agg.add(bar("AAPL", m, 10 + m)) == []
    done = agg.add(bar("AAPL", 6, 20))
    assert [(b.timestamp, b.close) for b in done] == [(T0, D(12))]
    assert agg.pending("AAPL") is not None  # the 14:05 bar is being built from 14:06


def test_the_first_bar_is_dropped_when_the_stream_started_in_its_middle() -> None:
    agg = five()
    assert agg.add(bar("AAPL", 3, 10)) == []
    assert agg.add(bar("AAPL", 4, 10)) == []  # the 14:00 bar lacks 14:00-14:02: not emitted
    emitted = [b for m in range(5, 10) for b in agg.add(bar("AAPL", m, 11))]
    assert [b.timestamp for b in emitted] == [T0 + timedelta(minutes=5)]


def test_a_minute_older_than_the_bar_being_built_is_ignored() -> None:
    agg = five()
    for m in range(5):
        agg.add(bar("AAPL", m, 10))
    agg.add(bar("AAPL", 5, 11))
    assert agg.add(bar("AAPL", 2, 99)) == []
    done = [b for m in range(6, 10) for b in agg.add(bar("AAPL", m, 12))]
    assert done[0].high == D(12)


def test_symbols_are_aggregated_separately_and_a_missing_vwap_gives_none() -> None:
    agg = BarAggregator(Timeframe.parse("2Min"))
    agg.add(bar("AAPL", 0, 10, vwap="10"))
    agg.add(bar("MSFT", 0, 20))
    (aapl,) = agg.add(bar("AAPL", 1, 11, vwap=None))
    (msft,) = agg.add(bar("MSFT", 1, 21))
    assert (aapl.symbol, aapl.close, aapl.vwap) == ("AAPL", D(11), None)
    assert (msft.symbol, msft.open, msft.close) == ("MSFT", D(20), D(21))


def test_hour_bars_are_built_from_sixty_minutes() -> None:
    agg = BarAggregator(Timeframe.parse("1Hour"))
    out = [b for m in range(60) for b in agg.add(bar("BTC/USD", m, 100 + m))]
    assert len(out) == 1
    assert (out[0].open, out[0].close, out[0].volume) == (D(100), D(159), D(6000))
