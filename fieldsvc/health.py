"""Liveness and readiness for load balancers: is the database reachable (and later, the blob store)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response

from fieldsvc import db
from fieldsvc.context import Ctx
from fieldsvc.wire import Wire


class HealthReport(Wire):
    status: str
    database: bool


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    security = []

    @get("/live")
    async def live(self) -> HealthReport:
        """The process answers; says nothing about dependencies."""
        return HealthReport(status="ok", database=True)

    @get("/ready", responses={503: ResponseSpec(HealthReport, description="a dependency is unreachable")})
    async def ready(self, ctx: Ctx) -> Response[HealthReport]:
        """Ready to serve: 200 when the database answers, 503 with Retry-After when it does not."""
        database = await db.ping(ctx.engine)
        report = HealthReport(status="ok" if database else "unavailable", database=database)
        return Response(report, status_code=200 if database else 503, headers=None if database else {"Retry-After": "5"})
