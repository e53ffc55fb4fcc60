"""HTTP routes for login, logout and whoami."""

from __future__ import annotations

from litestar.params import JSONBody
from litestar import Controller, Request, get, post

from fieldsvc.auth.caller import CallerDep
from fieldsvc.auth.schemas import Identity, LoginRequest, LoginResponse
from fieldsvc.auth.service import AuthService, BadCredentials, Throttled
from fieldsvc.context import Ctx
from fieldsvc.errors import documented


def identity_of(caller: CallerDep) -> Identity:
    return Identity(
        user_id=caller.user_id, username=caller.username, role=caller.role, technician_id=caller.technician_id
    )


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]

    @post("/login", status_code=200, security=[], responses=documented(BadCredentials, Throttled, public=True))
    async def login(self, data: JSONBody[LoginRequest], ctx: Ctx) -> LoginResponse:
        """Exchange a username (or staff number) and password for a bearer token that expires."""
        token, expires_at, caller = await AuthService(ctx).login(data.login, data.password)
        return LoginResponse(token=token, expires_at=expires_at, identity=identity_of(caller))

    @post("/logout", status_code=204, responses=documented())
    async def logout(self, request: Request, ctx: Ctx) -> None:
        """Revoke the token this request carries."""
        await AuthService(ctx).logout(request.auth)

    @get("/me", responses=documented())
    async def me(self, caller: CallerDep) -> Identity:
        """Who the token belongs to."""
        return identity_of(caller)
