"""A technician's day and visit detail, with what the visit's policy requires."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.dispatch.boards import day_zone, local_day_bounds
from fieldsvc.errors import api_error
from fieldsvc.review import repository as review_repository
from fieldsvc.technician import repository
from fieldsvc.technician.schemas import CustomerContact, MyVisit, PolicyRef, VisitSite
from fieldsvc.verdicts.service import VerdictService

MyVisitNotFound = api_error(404, "visit.not_found", "No such visit among yours.")


class TechnicianService:
    def __init__(self, ctx: AppContext, caller: Caller):
        self.ctx = ctx
        self.technician_id = caller.technician_id

    async def day(self, day: date | None, zone_name: str | None) -> list[MyVisit]:
        zone_name = await day_zone(self.ctx, self.technician_id, zone_name)
        start, end = local_day_bounds(day, zone_name, self.ctx.now())
        return await self._views(await repository.my_visits_between(self.technician_id, start, end))

    async def visit(self, visit_id: UUID) -> MyVisit:
        row = await repository.my_visit(self.technician_id, visit_id)
        if row is None:
            raise MyVisitNotFound()
        [view] = await self._views([row])
        return view

    async def _views(self, rows: list[dict]) -> list[MyVisit]:
        await VerdictService(self.ctx).settle()  # A-REAUDIT: the verdicts shown reflect every recorded fact
        returned = await review_repository.return_requests([r["id"] for r in rows if r["review_state"] == "returned"])
        return [self._view(row, returned.get(row["id"])) for row in rows]

    def _view(self, row: dict, returned: dict | None) -> MyVisit:
        policy = self.ctx.policies.select(row["kind"], row["locality"], row["customer_tier"])
        return MyVisit(
            id=row["id"],
            work_order_id=row["work_order"],
            kind=row["kind"],
            status=row["status"],
            agreed_time=row["agreed_time"],
            expected_duration_min=row["expected_duration_min"],
            description=row["description"],
            reported_fault=row["reported_fault"],
            customer=CustomerContact(name=row["customer_name"], phone=row["customer_phone"], tier=row["customer_tier"]),
            site=VisitSite(
                address=row["address"],
                latitude=row["latitude"],
                longitude=row["longitude"],
                locality=row["locality"],
                time_zone=row["time_zone"],
            ),
            policy=PolicyRef(id=policy.policy_id, version=policy.version),
            required_items=list(policy.required_items),
            customer_absent_wait_min=policy.customer_absent_wait_min,
            verdict=row["verdict"],
            review_state=row["review_state"],
            returned_for=list(returned["requested"]) if returned else [],
            return_reason=returned["reason"] if returned else None,
        )
