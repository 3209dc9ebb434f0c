"""ApiServer: binds before start() returns, port 0, loopback by default, clear errors, the
dashboard and its headers, and that the app refuses to exist without a JWT secret."""

from __future__ import annotations

import socket

import httpx
import pytest

from pulsetrader.api.app import create_app
from pulsetrader.api.auth import ApiConfigError
from pulsetrader.api.server import ApiServer, ApiServerError
from pulsetrader.engine import Engine
from tests.integration.api.conftest import fast_options, make_users


async def test_start_binds_loopback_on_a_free_port(server: ApiServer) -> None:
    assert server.host == "127.0.0.1"
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    # Bound once start() returned: a plain connect succeeds without any waiting.
    with socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass


async def test_a_taken_port_is_a_clear_error(engine: Engine, server: ApiServer) -> None:
    taken = ApiServer(engine, engine.settings, make_users(), port=server.port)
    with pytest.raises(ApiServerError, match=r"cannot listen on 127\.0\.0\.1"):
        await taken.start()
    await taken.stop()  # nothing to stop: no error either


async def test_stop_is_idempotent(engine: Engine) -> None:
    server = ApiServer(engine, engine.settings, make_users(), options=fast_options())
    await server.start()
    await server.stop()
    await server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


async def test_the_app_needs_a_jwt_secret(engine: Engine) -> None:
    for secret in (None, "short", "changeme" * 8):
        settings = engine.settings.model_copy(update={"jwt_secret_key": secret})
        if secret is not None:
            settings = engine.settings.model_copy(
                update={"jwt_secret_key": type(engine.settings.jwt_secret_key)(secret)}
            )
        with pytest.raises(ApiConfigError, match="JWT_SECRET_KEY"):
            create_app(engine, settings, make_users())


async def test_the_dashboard_and_security_headers(anon: httpx.AsyncClient) -> None:
    page = await anon.get("/")
    assert page.status_code in (200, 404)  # 404 until the dashboard files exist
    if page.status_code == 200:
        assert "default-src 'self'" in page.headers["content-security-policy"]
    assert (await anon.get("/static/no-such-file.js")).status_code == 404
    api = await anon.get("/api/health")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["cache-control"] == "no-store"
    assert "server" not in api.headers


async def test_openapi_documents_every_route_with_the_bearer_scheme(
    anon: httpx.AsyncClient,
) -> None:
    schema = (await anon.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "oauth2"
    assert schemes["bearer"]["flows"]["password"]["tokenUrl"] == "/api/auth/token"
    paths = schema["paths"]
    assert "/api/events" in paths
    assert "/api/positions/{symbol}" in paths
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("tags"), (method, path)
            public = path in ("/api/health", "/api/auth/token", "/api/auth/refresh", "/metrics")
            assert public or operation.get("security"), (method, path)
