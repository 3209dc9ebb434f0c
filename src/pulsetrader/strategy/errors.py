"""The strategy system's errors, each with a message meant for the person who wrote the config.

::

    PulseTraderError
    ├── ConfigError
    │   └── StrategyConfigError    the strategies file, a kind or a parameter is wrong
    └── StrategyError
        ├── StrategyNotFound       no strategy instance by that name (also a KeyError)
        └── StrategyStateError     pause/resume asked of a strategy in the wrong state
"""

from __future__ import annotations

from collections.abc import Sequence

from pulsetrader.domain.errors import ConfigError, PulseTraderError


class StrategyConfigError(ConfigError):
    """The strategies configuration cannot be used. ``problems`` holds one line per problem;
    the message lists them all, so one run shows every mistake in the file."""

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"invalid strategies file {source}" if source else "invalid strategy configuration"
        body = "\n".join(f"  {line}" for line in self.problems)
        super().__init__(f"{head}:\n{body}" if body else head)


class StrategyError(PulseTraderError):
    """Something asked of the strategy runner could not be done."""


class StrategyNotFound(StrategyError, KeyError):
    """No strategy instance has that name."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else "strategy not found"


class StrategyStateError(StrategyError):
    """The strategy is not in a state that allows the request (e.g. resuming a running one)."""
