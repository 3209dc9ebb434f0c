"""What every route reaches through the app: the engine and the API's own services."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pulsetrader.api.auth import ACCESS_TTL, REFRESH_TTL, TokenService
from pulsetrader.api.throttle import LoginThrottle
from pulsetrader.api.users import UserStore
from pulsetrader.config import Settings

if TYPE_CHECKING:
    from pulsetrader.api.events import EventHub
    from pulsetrader.api.metrics import EngineMetrics
    from pulsetrader.engine import Engine

STATIC_DIR = Path(__file__).parent / "static"

#: The dashboard's Content-Security-Policy: everything from this server, nothing from outside.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


@dataclass(slots=True)
class ApiOptions:
    """Tuning of the API; the defaults suit a real deployment, tests shorten the intervals.

    ``token_clock`` (epoch seconds) stamps and checks tokens; ``throttle`` slows down failed
    logins (one with the defaults when None); ``status_interval`` and ``ping_interval`` pace the
    event stream; ``csp`` is the dashboard's Content-Security-Policy (None: no header).
    """

    access_ttl: int = ACCESS_TTL
    refresh_ttl: int = REFRESH_TTL
    token_clock: Callable[[], float] = time.time
    throttle: LoginThrottle | None = None
    status_interval: float = 1.0
    ping_interval: float = 15.0
    static_dir: Path = STATIC_DIR
    csp: str | None = DASHBOARD_CSP


@dataclass(slots=True)
class ApiContext:
    """The engine and the API's services, kept in ``app.state.api``."""

    engine: Engine
    settings: Settings
    users: UserStore
    tokens: TokenService
    throttle: LoginThrottle
    hub: EventHub
    metrics: EngineMetrics
    options: ApiOptions = field(default_factory=ApiOptions)
