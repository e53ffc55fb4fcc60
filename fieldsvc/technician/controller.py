"""HTTP routes of the technician's read API."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from fieldsvc.auth.caller import CallerDep, allow
from fieldsvc.context import Ctx
from fieldsvc.dispatch.service import UnknownTimeZone
from fieldsvc.errors import documented
from fieldsvc.technician.schemas import MyVisit
from fieldsvc.technician.service import MyVisitNotFound, TechnicianService
from fieldsvc.wire import TodayByDefault, within_calendar


class MyVisitsController(Controller):
    path = "/v1/mobile/visits"
    tags = ["mobile"]
    guards = [allow("technician")]

    @get("/", responses=documented(UnknownTimeZone))
    async def my_day(
        self, ctx: Ctx, caller: CallerDep, date: TodayByDefault = None, tz: FromQuery[str | None] = None
    ) -> list[MyVisit]:
        """My visits on one local date, with the customer's contact and what the policy requires (today if none is
        given; zone: `tz`, default that of the site of my visit nearest to now)."""
        return await TechnicianService(ctx, caller).day(date and within_calendar(date, "date"), tz)

    @get("/{visit_id:uuid}", responses=documented(MyVisitNotFound))
    async def my_visit(self, visit_id: FromPath[UUID], ctx: Ctx, caller: CallerDep) -> MyVisit:
        """One of my visits; another technician's visit is not found."""
        return await TechnicianService(ctx, caller).visit(visit_id)
