"""Liveness and readiness for load balancers and operators: the database, the blob store, the auditor's backlog."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from litestar import Controller, get, head
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response

from fieldsvc import db
from fieldsvc.context import Ctx
from fieldsvc.trail.guard import check_trail
from fieldsvc.trail.service import TrailWriter
from fieldsvc.verdicts import outbox
from fieldsvc.wire import Wire

# Load balancers give up on a probe after a few seconds: a dependency that has not answered by then is not ready (an
# S3 endpoint that hangs would otherwise hold the answer for its read timeout times its attempts, 20 s; a probe).
READY_PROBE_SECONDS = 2.0


class HealthReport(Wire):
    status: str
    database: bool | None = None  # asked by /health/ready only: liveness does not ask the dependencies
    blob_store: bool | None = None
    # The background auditor's backlog (/health/ready, when the database answers): visits whose verdict does not
    # reflect their facts yet, how long the oldest has waited, and trail entries not yet chained. Readers settle
    # what is due before they answer, so a backlog delays the auditors' queue, never a stale verdict shown.
    audit_backlog: int | None = None
    oldest_waiting_seconds: float | None = None
    trail_pending: int | None = None
    # False (and not ready) when the trail's head is not sealed with this server's key: a server started with another
    # key, or a chain changed behind the service's back. It then chains no verdict and records nothing (every write is
    # a 503, fieldsvc.trail.guard); see `fieldsvc trail verify`, and `fieldsvc trail seal` to adopt its key.
    auditing: bool | None = None


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    security = []

    @get("/live")
    async def live(self) -> HealthReport:
        """The process answers; it does not ask the dependencies (see /health/ready)."""
        return HealthReport(status="ok")

    @head("/live")
    async def live_headers_only(self) -> None:
        """The same as GET /health/live without a body, for load balancers that probe with HEAD."""

    @get("/ready", responses={503: ResponseSpec(HealthReport, description="a dependency is unreachable")})
    async def ready(self, ctx: Ctx) -> Response[HealthReport]:
        """Ready to serve: 200 when the database and blob store answer and the trail's head is sealed with this server's
        key, 503 with Retry-After otherwise (the body says which)."""
        database, blob_store = await asyncio.gather(_answers(db.ping(ctx.engine)), _answers(ctx.blobs.ping()))
        report = HealthReport(status="unavailable", database=database, blob_store=blob_store)
        if database:
            oldest = await outbox.oldest_mark()
            report.audit_backlog = await outbox.backlog()
            report.oldest_waiting_seconds = None if oldest is None else round((ctx.now() - oldest).total_seconds(), 1)
            report.trail_pending = await TrailWriter.pending_count()
            report.auditing = await check_trail(ctx)
        ready = database and blob_store and bool(report.auditing)
        report.status = "ok" if ready else "unavailable"
        return Response(report, status_code=200 if ready else 503, headers=None if ready else {"Retry-After": "5"})


async def _answers(ping: Awaitable[bool]) -> bool:
    """The ping's answer, or False after READY_PROBE_SECONDS. A ping past its time is cancelled, not waited for: a
    connection to a database that stopped answering (its host frozen) took minutes to give up (a probe)."""
    task = asyncio.ensure_future(ping)
    done, _ = await asyncio.wait({task}, timeout=READY_PROBE_SECONDS)
    if done:
        return task.result()
    task.add_done_callback(_quietly)
    task.cancel()
    return False


def _quietly(task: asyncio.Future[bool]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so a ping that failed while giving up is not logged as never retrieved
