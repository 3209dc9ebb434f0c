"""Fills, realized P/L, the positions snapshot, the equity curve and daily P/L.

Sums are exact: the TEXT amounts are read and added as Decimals in Python, never by SQL's
``SUM``, which would go through REAL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pulsetrader.domain.fills import Fill
from pulsetrader.domain.money import ZERO, ensure_utc, to_decimal
from pulsetrader.domain.position import Position
from pulsetrader.persistence import codec
from pulsetrader.persistence.base import JournalCore
from pulsetrader.persistence.db import precompiled
from pulsetrader.persistence.records import UNATTRIBUTED, DailyPnL, JournalFill
from pulsetrader.persistence.schema import equity as equity_table
from pulsetrader.persistence.schema import fills, orders
from pulsetrader.persistence.schema import positions as positions_table

PnLGrouping = Literal["symbol", "strategy", "day"]

#: Equity samples closer than this to the previous one are dropped, bounding the table's growth.
EQUITY_MIN_INTERVAL = timedelta(seconds=1)

_INSERT_FILL = precompiled(
    sqlite_insert(fills).on_conflict_do_nothing(index_elements=[fills.c.execution_id])
)
_STRATEGY_OF_ORDER = precompiled(
    select(orders.c.strategy).where(orders.c.client_order_id == bindparam("client_order_id"))
)
_CLEAR_POSITIONS = precompiled(delete(positions_table))
_INSERT_POSITION = precompiled(insert(positions_table))
_GROUP_COLUMNS = {"symbol": fills.c.symbol, "strategy": fills.c.strategy, "day": fills.c.trade_date}


class Ledger(JournalCore):
    """The ``fills``, ``positions`` and ``equity`` tables."""

    _last_equity_at: datetime | None = None

    def record_fill(
        self,
        fill: Fill,
        *,
        realized_pl: Decimal | None = None,
        strategy: str | None = None,
    ) -> bool:
        """Journal one execution, keyed by its execution id; False (nothing changed) if known.

        ``realized_pl`` is what the fill realized on its position. The strategy is ``strategy``,
        else the fill's, else the strategy of its order in the journal. The New York trading
        date of the fill is stored for daily P/L. Use the result to gate position updates after
        a restart: a replayed execution returns False.
        """
        row = {
            "execution_id": fill.execution_id,
            "client_order_id": fill.client_order_id,
            "order_id": fill.order_id,
            "symbol": fill.symbol,
            "side": fill.side.value,
            "qty": codec.dec(fill.qty),
            "price": codec.dec(fill.price),
            "timestamp": codec.ts(fill.timestamp),
            "trade_date": codec.ny_date(fill.timestamp),
            "strategy": strategy or fill.strategy,
            "realized_pl": codec.opt_dec(realized_pl),
        }
        with self._write_sql() as connection:
            if row["strategy"] is None:
                found = connection.execute(_STRATEGY_OF_ORDER.text, row).fetchone()
                row["strategy"] = None if found is None else found[0]
            return bool(connection.execute(_INSERT_FILL.text, row).rowcount == 1)

    def has_fill(self, execution_id: str) -> bool:
        """True when this execution id is journaled."""
        query = select(fills.c.execution_id).where(fills.c.execution_id == execution_id)
        with self._read() as connection:
            return connection.execute(query).first() is not None

    def fills(
        self,
        *,
        symbol: str | None = None,
        strategy: str | None = None,
        client_order_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[JournalFill]:
        """Journaled fills matching every filter given, in execution time order (oldest first
        unless ``newest_first``); ``since``/``until`` bound the timestamp (inclusive/exclusive)."""
        where: list[ColumnElement[bool]] = []
        if symbol is not None:
            where.append(fills.c.symbol == symbol)
        if strategy is not None:
            where.append(fills.c.strategy == strategy)
        if client_order_id is not None:
            where.append(fills.c.client_order_id == client_order_id)
        if since is not None:
            where.append(fills.c.timestamp >= codec.ts(since))
        if until is not None:
            where.append(fills.c.timestamp < codec.ts(until))
        keys = (fills.c.timestamp, fills.c.execution_id)
        query = (
            select(fills)
            .where(and_(True, *where))
            .order_by(*(k.desc() if newest_first else k.asc() for k in keys))
        )
        if limit is not None or offset:
            query = query.limit(-1 if limit is None else limit).offset(offset)
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            JournalFill(
                fill=Fill(
                    execution_id=row["execution_id"],
                    order_id=row["order_id"],
                    client_order_id=row["client_order_id"],
                    symbol=row["symbol"],
                    side=row["side"],
                    qty=codec.to_dec(row["qty"]),
                    price=codec.to_dec(row["price"]),
                    timestamp=codec.to_ts(row["timestamp"]),
                    strategy=row["strategy"],
                ),
                realized_pl=codec.opt_to_dec(row["realized_pl"]),
                strategy=row["strategy"],
            )
            for row in rows
        ]

    def realized_pl(self, *, by: PnLGrouping, since: date | None = None) -> dict[str, Decimal]:
        """Realized P/L summed exactly per symbol, strategy or New York date (``YYYY-MM-DD``),
        sorted by key. Fills without a strategy count under :data:`UNATTRIBUTED`; ``since``
        keeps fills from that New York date on; fills without a realized figure are skipped."""
        column = _GROUP_COLUMNS[by]
        # SQLite groups and joins the exact texts; Python parses and adds them. One row per
        # group instead of per fill keeps this fast (about 15 ms for 20,000 fills).
        amounts = func.group_concat(fills.c.realized_pl, " ")
        query = select(column, amounts).where(fills.c.realized_pl.is_not(None)).group_by(column)
        if since is not None:
            query = query.where(fills.c.trade_date >= codec.day_text(since))
        totals: dict[str, Decimal] = {}
        with self._read() as connection:
            for key, texts in connection.execute(query):
                name = UNATTRIBUTED if key is None else key
                total = sum(map(Decimal, texts.split(" ")), ZERO)
                totals[name] = totals.get(name, ZERO) + total
        return dict(sorted(totals.items()))

    def total_realized_pl(self, *, since: date | None = None) -> Decimal:
        """All realized P/L (from New York date ``since`` on), exactly."""
        return sum(self.realized_pl(by="day", since=since).values(), ZERO)

    def save_positions(self, positions: Iterable[Position], at: datetime) -> None:
        """Replace the positions table with ``positions`` (flat positions kept: they carry
        realized P/L), stamped ``at``, in one transaction."""
        stamp = codec.ts(at)
        rows = [
            {
                "symbol": p.symbol,
                "qty": codec.dec(p.qty),
                "avg_entry_price": codec.opt_dec(p.avg_entry_price),
                "realized_pl": codec.dec(p.realized_pl),
                "updated_at": stamp,
            }
            for p in positions
        ]
        with self._write_sql() as connection:
            connection.execute(_CLEAR_POSITIONS.text)
            connection.executemany(_INSERT_POSITION.text, rows)

    def load_positions(self) -> dict[str, Position]:
        """The last saved positions by symbol (their applied execution ids are not kept: gate
        replayed fills with :meth:`record_fill`'s result)."""
        query = select(
            positions_table.c.symbol, positions_table.c.qty, positions_table.c.avg_entry_price
        ).add_columns(positions_table.c.realized_pl)
        with self._read() as connection:
            rows = connection.execute(query.order_by(positions_table.c.symbol)).all()
        return {
            symbol: Position(
                symbol,
                qty=codec.to_dec(qty),
                avg_entry_price=codec.opt_to_dec(avg),
                realized_pl=codec.to_dec(realized),
            )
            for symbol, qty, avg, realized in rows
        }

    def record_equity(self, at: datetime, equity: Decimal, cash: Decimal | None = None) -> bool:
        """Add a sample to the equity curve; return False (nothing written) for a sample less
        than :data:`EQUITY_MIN_INTERVAL` after the latest one, or older than it."""
        if self._last_equity_at is None:
            with self._read() as connection:
                latest = connection.execute(select(func.max(equity_table.c.at))).scalar()
            self._last_equity_at = None if latest is None else codec.to_ts(latest)
        at = ensure_utc(at)
        last = self._last_equity_at
        if last is not None and at < last + EQUITY_MIN_INTERVAL:
            return False
        row = {
            "at": codec.ts(at),
            "trade_date": codec.ny_date(at),
            "equity": codec.dec(to_decimal(equity)),
            "cash": None if cash is None else codec.dec(to_decimal(cash)),
        }
        with self._write() as connection:
            connection.execute(insert(equity_table), row)
        self._last_equity_at = at
        return True

    def equity_curve(
        self, since: datetime | None = None, limit: int | None = None
    ) -> list[tuple[datetime, Decimal]]:
        """``(time, equity)`` samples, oldest first; ``limit`` keeps the latest ``limit``."""
        return [(at, value) for at, value, _ in self.equity_samples(since, limit)]

    def equity_samples(
        self, since: datetime | None = None, limit: int | None = None
    ) -> list[tuple[datetime, Decimal, Decimal | None]]:
        """``(time, equity, cash)`` samples, oldest first (cash None where it was not
        recorded); ``limit`` keeps the latest ``limit``."""
        columns = (equity_table.c.at, equity_table.c.equity, equity_table.c.cash)
        query = select(*columns).order_by(equity_table.c.id.desc())
        if since is not None:
            query = query.where(equity_table.c.at >= codec.ts(since))
        if limit is not None:
            query = query.limit(limit)
        with self._read() as connection:
            rows = connection.execute(query).all()
        return [
            (codec.to_ts(at), codec.to_dec(value), None if cash is None else codec.to_dec(cash))
            for at, value, cash in reversed(rows)
        ]

    def daily_pnl(self, since: date | None = None) -> list[DailyPnL]:
        """One row per New York date with equity samples or realized P/L, oldest first: the
        first and last equity sample of the date, their change, and the realized P/L of the
        date's fills."""
        day = equity_table.c.trade_date
        # SQLite returns the bare column from the row holding the MIN/MAX: the first and last
        # sample of each date, since samples are inserted in time order.
        first = select(day, func.min(equity_table.c.id), equity_table.c.equity).group_by(day)
        last = select(day, func.max(equity_table.c.id), equity_table.c.equity).group_by(day)
        if since is not None:
            first = first.where(day >= codec.day_text(since))
            last = last.where(day >= codec.day_text(since))
        with self._read() as connection:
            starts = {d: codec.to_dec(v) for d, _, v in connection.execute(first)}
            ends = {d: codec.to_dec(v) for d, _, v in connection.execute(last)}
        realized = self.realized_pl(by="day", since=since)
        rows = []
        for key in sorted(starts.keys() | realized.keys()):
            start, end = starts.get(key), ends.get(key)
            rows.append(
                DailyPnL(
                    date=date.fromisoformat(key),
                    start_equity=start,
                    end_equity=end,
                    change=None if start is None or end is None else end - start,
                    realized=realized.get(key, ZERO),
                )
            )
        return rows
