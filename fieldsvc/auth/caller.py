"""Who is calling: the identity resolved from a bearer token, and the role guards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable
from uuid import UUID

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler

from fieldsvc.errors import Forbidden

ROLES = ("technician", "dispatcher", "auditor", "admin")


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: UUID
    username: str
    role: str
    technician_id: UUID | None


def allow(*roles: str) -> Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]:
    """A guard admitting the given roles (admin is always admitted except to technician-only routes).

    A coroutine although it awaits nothing: Litestar runs a plain function guard in a worker thread, a hop per request.
    """
    admitted = set(roles) | ({"admin"} if roles != ("technician",) else set())

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        # OPTIONS is answered by the framework with the allowed methods alone, and authenticated by no one (CORS
        # preflights carry no token): a guard on a router would otherwise find no caller (a probe got a 400).
        if connection.scope.get("method") == "OPTIONS":
            return
        caller: Caller = connection.user
        if caller.role not in admitted:
            raise Forbidden(f"This needs the role {' or '.join(sorted(admitted))}; you are {caller.role}.")

    guard.__name__ = f"allow_{'_'.join(roles)}"
    return guard


def provide_caller(request: Request) -> Caller:
    return request.user


CallerDep = NamedDependency[Caller]
