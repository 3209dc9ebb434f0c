"""Dependencies of the routes: the context, and who is calling.

Authentication is attached once per router (freqtrade's way) by :class:`AuthedRoute`: it checks
the bearer token before FastAPI reads the body or the parameters, so a request without a valid
token learns nothing, not even whether its input would have been valid. Routes that need the
user name declare :data:`CurrentUser`; that also puts the OAuth2 password flow into the OpenAPI
schema, which is what makes Swagger's *Authorize* button work.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param

from pulsetrader.api.auth import Claims, TokenError
from pulsetrader.api.context import ApiContext

TOKEN_URL = "/api/auth/token"  # noqa: S105 - a path

bearer = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL,
    scheme_name="bearer",
    description="Log in with `POST /api/auth/token`, then send `Authorization: Bearer <token>`",
    auto_error=False,
)


def unauthorized(detail: str, *, invalid: bool = False) -> HTTPException:
    """A 401 with the ``WWW-Authenticate: Bearer`` challenge (RFC 6750)."""
    challenge = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": challenge}
    )


def context_of(request: Request) -> ApiContext:
    """The :class:`ApiContext` of the app serving ``request``."""
    ctx: ApiContext = request.app.state.api
    return ctx


async def get_context(request: Request) -> ApiContext:
    return context_of(request)


Context = Annotated[ApiContext, Depends(get_context)]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None if absent or another
    scheme."""
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def authenticate(request: Request) -> Claims:
    """The verified access-token claims of ``request`` (cached on it); 401 otherwise."""
    cached = getattr(request.state, "claims", None)
    if isinstance(cached, Claims):
        return cached
    token = bearer_token(request)
    if token is None:
        raise unauthorized("not authenticated: send Authorization: Bearer <access token>")
    try:
        claims = context_of(request).tokens.verify(token, "access")
    except TokenError as exc:
        raise unauthorized(str(exc), invalid=True) from exc
    request.state.claims = claims
    return claims


class AuthedRoute(APIRoute):
    """A route that refuses requests without a valid access token before anything else runs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authed(request: Request) -> Response:
            authenticate(request)
            return await handler(request)

        return authed


async def current_claims(
    request: Request, _token: Annotated[str | None, Depends(bearer)]
) -> Claims:
    # ``_token`` is there for the OpenAPI security scheme; the header is read by authenticate().
    return authenticate(request)


async def current_user(claims: Annotated[Claims, Depends(current_claims)]) -> str:
    return claims.sub


CurrentClaims = Annotated[Claims, Depends(current_claims)]
CurrentUser = Annotated[str, Depends(current_user)]


def authed_router(**kwargs: Any) -> APIRouter:
    """A router whose every route needs an access token: checked first by :class:`AuthedRoute`,
    and documented (the OpenAPI ``security`` of each operation) by the router dependency."""
    return APIRouter(route_class=AuthedRoute, dependencies=[Depends(current_claims)], **kwargs)
