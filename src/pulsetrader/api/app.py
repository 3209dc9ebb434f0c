"""The FastAPI app: auth, the read and action routes, live events, metrics and the dashboard.

Routes (every ``/api/*`` route needs ``Authorization: Bearer <access token>`` except the three
marked public)::

    POST   /api/auth/token              public: log in (OAuth2 password form)
    POST   /api/auth/refresh            public: new tokens for a refresh token
    GET    /api/health                  public: {"healthy": bool}, nothing else
    GET    /api/me | status | account | positions | orders | fills | pnl | equity
           /api/strategies | risk | health/details | actions
    POST   /api/trading/halt | /api/trading/resume
    POST   /api/strategies/{name}/pause | /api/strategies/{name}/resume
    DELETE /api/orders/{order_id}
    DELETE /api/positions/{symbol}
    POST   /api/positions/close-all
    GET    /api/events                  Server-Sent Events
    GET    /metrics                     Prometheus; open to loopback clients only
    GET    /  and /static/*             the dashboard
    GET    /docs, /openapi.json         Swagger UI and the schema

Build it with :func:`create_app` after ``Engine.start()`` (the engine's parts must exist to be
listened to); serve it with :class:`~pulsetrader.api.server.ApiServer`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulsetrader import __version__
from pulsetrader.api import errors, events, metrics, routes_act, routes_auth, routes_read
from pulsetrader.api.auth import ApiConfigError, TokenService, secret_from
from pulsetrader.api.context import ApiContext, ApiOptions
from pulsetrader.api.throttle import LoginThrottle
from pulsetrader.api.users import UserStore
from pulsetrader.config import Settings

if TYPE_CHECKING:
    from pulsetrader.engine import Engine

TAGS = [
    {"name": "auth", "description": "Log in and refresh tokens (the token routes are public)"},
    {"name": "health", "description": "`/api/health` is public and says only healthy or not"},
    {"name": "status", "description": "The engine at a glance"},
    {"name": "account", "description": "Account and positions, from the broker"},
    {"name": "orders", "description": "Orders and fills, from the journal"},
    {"name": "positions", "description": "Closing positions"},
    {"name": "pnl", "description": "Profit and loss, equity curve"},
    {"name": "strategies", "description": "Strategy instances: state, pause, resume"},
    {"name": "risk", "description": "Risk limits and the trading state"},
    {"name": "trading", "description": "Halting and resuming all trading"},
    {"name": "audit", "description": "Who did what"},
    {"name": "events", "description": "Live updates as Server-Sent Events"},
    {"name": "metrics", "description": "Prometheus metrics"},
]


class SecurityHeaders:
    """Headers every answer carries, and the dashboard's Content-Security-Policy.

    Pure ASGI, not ``BaseHTTPMiddleware``, which would buffer the event stream.
    """

    def __init__(self, app: ASGIApp, csp: str | None) -> None:
        self.app = app
        self.csp = csp.encode() if csp else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        dashboard = path == "/" or path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                if path.startswith("/api/"):
                    headers.append((b"cache-control", b"no-store"))
                if dashboard and self.csp is not None:
                    headers.append((b"content-security-policy", self.csp))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class DashboardFiles(StaticFiles):
    """StaticFiles that answers 404, instead of failing, while the folder does not exist."""

    async def check_config(self) -> None:
        # Not there (yet): every lookup answers 404 instead of raising.
        with contextlib.suppress(RuntimeError):
            await super().check_config()


def create_app(
    engine: Engine,
    settings: Settings,
    users: UserStore,
    *,
    options: ApiOptions | None = None,
) -> FastAPI:
    """The API over a started ``engine``.

    Raises :class:`~pulsetrader.api.auth.ApiConfigError` without a usable ``JWT_SECRET_KEY``
    (there is no default) or before the engine has started.
    """
    secret = secret_from(settings)
    if not engine.started or engine.stopped:
        raise ApiConfigError("build the API after Engine.start() (and before Engine.stop())")
    options = options or ApiOptions()
    tokens = TokenService(
        secret,
        users,
        access_ttl=options.access_ttl,
        refresh_ttl=options.refresh_ttl,
        clock=options.token_clock,
    )
    hub = events.EventHub(engine)
    engine_metrics = metrics.EngineMetrics(engine)
    ctx = ApiContext(
        engine=engine,
        settings=settings,
        users=users,
        tokens=tokens,
        # `is None`, not `or`: an unused throttle is empty, and so falsy.
        throttle=LoginThrottle() if options.throttle is None else options.throttle,
        hub=hub,
        metrics=engine_metrics,
        options=options,
    )
    app = FastAPI(
        title="PulseTrader",
        version=__version__,
        summary="Monitor and steer a running PulseTrader engine",
        openapi_tags=TAGS,
        redoc_url=None,
        swagger_ui_parameters={"persistAuthorization": False},
    )
    app.state.api = ctx
    hub.attach()
    engine_metrics.attach()
    errors.install(app)
    app.include_router(routes_auth.router)
    app.include_router(routes_read.router)
    app.include_router(routes_act.router)
    app.include_router(events.router)
    app.include_router(metrics.router)
    _add_dashboard(app, options)
    app.add_middleware(SecurityHeaders, csp=options.csp)
    return app


def _add_dashboard(app: FastAPI, options: ApiOptions) -> None:
    static = options.static_dir
    index = static / "index.html"

    @app.get("/", include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        if not index.is_file():
            return JSONResponse({"detail": "the dashboard is not installed"}, status_code=404)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    # check_dir=False: the folder may be created after the app (and in tests, never).
    app.mount("/static", DashboardFiles(directory=static, check_dir=False), name="static")
