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
    blob_store: bool


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    security = []

    @get("/live")
    async def live(self) -> HealthReport:
        """The process answers; it does not ask the dependencies (see /health/ready)."""
        return HealthReport(status="ok", database=True, blob_store=True)

    @get("/ready", responses={503: ResponseSpec(HealthReport, description="a dependency is unreachable")})
    async def ready(self, ctx: Ctx) -> Response[HealthReport]:
        """Ready to serve: 200 when the database and blob store answer, 503 with Retry-After when one does not."""
        database, blob_store = await db.ping(ctx.engine), await ctx.blobs.ping()
        ready = database and blob_store
        report = HealthReport(status="ok" if ready else "unavailable", database=database, blob_store=blob_store)
        return Response(report, status_code=200 if ready else 503, headers=None if ready else {"Retry-After": "5"})
