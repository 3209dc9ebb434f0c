"""How failures are answered: always JSON with a ``detail`` in words, never a stack trace.

* bad input: 422 with every problem listed (the input itself is not echoed: it may be a
  password), a body that cannot even be decoded included (FastAPI's own answer is a 400);
* an operator action the engine refuses (:class:`~pulsetrader.control.ControlError`): 404, 409 or
  422 by its ``kind``;
* the broker not answering: 503 (the request may work again shortly);
* the engine not running (before start, after stop): 503;
* anything else: logged with its traceback, answered 500 ``internal error`` as a last resort.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException

from pulsetrader.broker.errors import BrokerError
from pulsetrader.control import ControlError
from pulsetrader.engine import EngineError
from pulsetrader.persistence.errors import JournalError

_CONTROL_STATUS = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "conflict": status.HTTP_409_CONFLICT,
    "invalid": status.HTTP_422_UNPROCESSABLE_CONTENT,
}


def _where(loc: Any) -> str:
    parts = [str(p) for p in loc if p != "body" or len(loc) == 1]
    return ".".join(parts) or "request"


def validation_errors(exc: RequestValidationError) -> dict[str, Any]:
    """The 422 body: a one-line ``detail`` and the problems without the offending input."""
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    return {"detail": detail, "errors": errors}


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_errors(exc), status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_400_BAD_REQUEST:  # FastAPI: the body could not be parsed
        return JSONResponse(
            {"detail": "the request body could not be read: send UTF-8 JSON (or the login form)"},
            status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return await http_exception_handler(request, exc)


async def _on_control(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ControlError)
    return JSONResponse({"detail": str(exc)}, _CONTROL_STATUS.get(exc.kind, 422))


async def _on_broker(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("{} {}: the broker failed: {}", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": f"the broker did not answer ({type(exc).__name__}); try again shortly"},
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )


async def _on_engine_down(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("{} {}: engine unavailable: {}", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the engine is not running"}, status.HTTP_503_SERVICE_UNAVAILABLE
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.opt(exception=exc).error("{} {} failed", request.method, request.url.path)
    return JSONResponse({"detail": "internal error"}, status.HTTP_500_INTERNAL_SERVER_ERROR)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(ControlError, _on_control)
    app.add_exception_handler(BrokerError, _on_broker)
    app.add_exception_handler(EngineError, _on_engine_down)
    app.add_exception_handler(JournalError, _on_engine_down)
    app.add_exception_handler(Exception, _on_unexpected)
