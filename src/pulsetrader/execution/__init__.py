"""Order execution: the order manager, the execution book and reconciliation."""

from pulsetrader.execution.book import BookedFill, ExecutionBook
from pulsetrader.execution.order_manager import OrderManager

__all__ = ["BookedFill", "ExecutionBook", "OrderManager"]
