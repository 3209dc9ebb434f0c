"""The HTTP seam under alpaca-py: timeouts on every request, and a record of every exchange.

alpaca-py's REST clients call ``self._session.request(...)`` on a plain ``requests.Session`` with
no timeout, so a hung connection blocks its thread forever. :class:`InstrumentedSession` replaces
that session: it applies a (connect, read) timeout to every request and records each exchange
(status, latency, the rate-limit headers) in a per-thread list that the client collects after the
SDK call returns. The SDK itself stays unmodified; only its ``_session`` attribute is swapped.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

_RECORDED_HEADERS = (
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
)


@dataclass(frozen=True, slots=True)
class HttpExchange:
    """One HTTP request the SDK made: what, how long, and how it ended."""

    method: str
    path: str
    status: int | None
    seconds: float
    headers: Mapping[str, str]
    error: str | None = None


_local = threading.local()


def begin_recording() -> list[HttpExchange]:
    """Start recording this thread's exchanges; returns the list they will be appended to."""
    records: list[HttpExchange] = []
    _local.records = records
    return records


def end_recording() -> None:
    """Stop recording on this thread."""
    _local.records = None


class InstrumentedSession(requests.Session):
    """A ``requests.Session`` with a default timeout and per-thread exchange records."""

    def __init__(self, timeout: float, pool_size: int = 16) -> None:
        super().__init__()
        # Connecting to a live broker should take well under a second; the read timeout is the
        # budget the caller configured. Both bounded, so no worker thread is ever stuck.
        self.timeout = (min(timeout, 5.0), timeout)
        # requests re-reads the environment (proxies, NO_PROXY, CA bundle, ~/.netrc) on every
        # request when trust_env is on: about 250 us of the order path. Read it once here and
        # turn it off when nothing there applies; with a proxy or a CA bundle configured, keep
        # requests' own handling (NO_PROXY included), which is correct if slower.
        if not _environment_applies():
            self.trust_env = False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        method_text = method.decode() if isinstance(method, bytes) else method
        url_text = url.decode() if isinstance(url, bytes) else url
        path = urlsplit(url_text).path
        started = time.perf_counter()
        try:
            response = super().request(method, url, *args, **kwargs)
        except Exception as exc:
            _record(method_text, path, None, time.perf_counter() - started, {}, type(exc).__name__)
            raise
        headers = {k: response.headers[k] for k in _RECORDED_HEADERS if k in response.headers}
        _record(method_text, path, response.status_code, time.perf_counter() - started, headers)
        return response


def _environment_applies() -> bool:
    """Whether the environment configures a proxy, a CA bundle or a netrc for requests."""
    if urllib.request.getproxies():
        return True
    if os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"):
        return True
    netrc = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    return os.path.exists(netrc)


def _record(
    method: str,
    path: str,
    status: int | None,
    seconds: float,
    headers: Mapping[str, str],
    error: str | None = None,
) -> None:
    records: list[HttpExchange] | None = getattr(_local, "records", None)
    if records is not None:
        records.append(HttpExchange(method.upper(), path, status, seconds, headers, error))
