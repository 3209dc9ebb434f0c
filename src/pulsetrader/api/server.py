"""ApiServer: uvicorn serving the API on the engine's own event loop, in the engine's process.

Same loop, so routes call the engine directly (no threads, no locks). The details that matter:

* :meth:`ApiServer.start` binds the socket itself before serving, so it returns only once the
  port is bound (port 0 picks a free one; :attr:`port` and :attr:`url` tell which) and a busy
  port fails right there with :class:`ApiServerError` instead of uvicorn's ``sys.exit``;
* uvicorn's signal handlers are off: the engine installs its own and stops the server;
* uvicorn's access log is off (a request line could carry a token in a query string) and its
  other records go through the standard library into loguru, redaction included;
* :meth:`ApiServer.stop` first ends the event streams (uvicorn waits for open responses on
  shutdown, and a Server-Sent Events response never ends by itself), then shuts uvicorn down,
  with ``graceful_timeout`` as the bound.

Stop the server before the engine (``await server.stop(); await engine.stop()``): requests in
flight may still need the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI
from loguru import logger

from pulsetrader.api.app import create_app
from pulsetrader.api.context import ApiOptions
from pulsetrader.api.users import UserStore
from pulsetrader.config import Settings

if TYPE_CHECKING:
    from pulsetrader.engine import Engine


class ApiServerError(RuntimeError):
    """The server could not start (the message says why, e.g. the port is taken)."""


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers, telling when it is serving."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.serving = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The engine owns SIGINT and SIGTERM (engine.install_signal_handlers).
        yield

    async def startup(self, sockets: Sequence[socket.socket] | None = None) -> None:
        await super().startup(sockets=list(sockets) if sockets is not None else None)
        self.serving.set()


class ApiServer:
    """The API of ``engine`` on ``host:port`` (defaults: ``API_HOST``, ``API_PORT``)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        users: UserStore,
        *,
        host: str | None = None,
        port: int | None = None,
        options: ApiOptions | None = None,
        graceful_timeout: float = 5.0,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.users = users
        self.host = host if host is not None else settings.api_host
        self.port = port if port is not None else settings.api_port
        self.options = options
        self.graceful_timeout = graceful_timeout
        self.app: FastAPI | None = None
        self._server: _Server | None = None
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8000`` (``[::1]`` style for IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Build the app, bind the socket and serve; returns once requests are accepted."""
        if self._task is not None:
            return
        self.app = create_app(self.engine, self.settings, self.users, options=self.options)
        sock = self._socket = self._bind()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,  # leave logging to loguru's interception of the standard library
            access_log=False,
            lifespan="off",
            ws="none",
            proxy_headers=False,  # client addresses (the login throttle) are the real peers
            server_header=False,
            timeout_graceful_shutdown=int(max(1, self.graceful_timeout)),
        )
        server = self._server = _Server(config)
        task = self._task = asyncio.get_running_loop().create_task(
            self._serve(server, sock), name="api"
        )
        serving = asyncio.ensure_future(server.serving.wait())
        await asyncio.wait({serving, task}, return_when=asyncio.FIRST_COMPLETED)
        if not server.serving.is_set():  # uvicorn ended before serving: say why, leave nothing
            serving.cancel()
            self._task, self._server, self._socket = None, None, None
            sock.close()
            await task  # raises what ended it
            raise ApiServerError("the API server ended during start-up")
        logger.info("API listening on {} (dashboard at {}/)", self.url, self.url)

    def _bind(self) -> socket.socket:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            # The protocol must be IPPROTO_TCP, not 0 as socket.create_server leaves it: asyncio
            # sets TCP_NODELAY only on such sockets, and without it every response waits 40 ms
            # for a delayed ACK (Nagle).
            sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
        except OSError as exc:
            raise ApiServerError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        try:
            if os.name != "nt":  # on Windows SO_REUSEADDR would let two servers share a port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(128)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            raise ApiServerError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc} "
                "(set API_PORT to a free port, or 0 for any)"
            ) from exc

    @staticmethod
    async def _serve(server: _Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn's answer to a failed start-up: not ours to exit
            raise ApiServerError(f"the API server failed to start (exit {exc.code})") from exc

    async def stop(self) -> None:
        """End the event streams, then shut the server down (idempotent)."""
        task, server = self._task, self._server
        if task is None or server is None:
            return
        if self.app is not None:
            self.app.state.api.hub.close()
        server.should_exit = True
        try:
            await task
        except Exception:
            logger.exception("the API server ended with an error")
        finally:
            self._task = None
            if self._socket is not None:
                self._socket.close()
                self._socket = None
        logger.info("API stopped")

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
