"""Counters the simulator keeps for ``GET /sim/stats``: HTTP requests and market-loop work."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RequestStats:
    """Counts of HTTP requests by route and status, for ``GET /sim/stats``."""

    total: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)

    def record(self, method: str, route: str, status: int) -> None:
        """Count one request (status 0: no response was sent)."""
        self.total += 1
        self.by_route[f"{method} {route}"] += 1
        self.by_status[status] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON."""
        return {
            "total": self.total,
            "by_route": dict(self.by_route.most_common()),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
        }


@dataclass(slots=True)
class LoopStats:
    """What the market loop has done, to see whether it keeps up."""

    chunks: int = 0
    ticks: int = 0
    bars: int = 0
    trade_updates: int = 0
    last_chunk_ms: float = 0.0
    max_chunk_ms: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON."""
        return {
            "chunks": self.chunks,
            "ticks": self.ticks,
            "bars": self.bars,
            "trade_updates": self.trade_updates,
            "last_chunk_ms": round(self.last_chunk_ms, 3),
            "max_chunk_ms": round(self.max_chunk_ms, 3),
        }
