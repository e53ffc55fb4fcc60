"""Bearer-token authentication for every route except the public ones."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware

from fieldsvc.auth.service import AuthService
from fieldsvc.errors import NotAuthenticated

PUBLIC_PATHS = ["^/v1/auth/login$", "^/health", "^/schema", "^/v1/blobs/"]


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated()
        caller = await AuthService(connection.app.state.ctx).resolve(token.strip())
        return AuthenticationResult(user=caller, auth=token.strip())


def bearer_auth() -> DefineMiddleware:
    return DefineMiddleware(BearerTokenMiddleware, exclude=PUBLIC_PATHS)
