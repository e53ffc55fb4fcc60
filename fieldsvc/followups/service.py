"""Follow-up use cases (V-ASK): the office's list of questions to answer, and recording the answer once."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fieldsvc import db
from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.errors import api_error
from fieldsvc.followups import repository
from fieldsvc.followups.schemas import FollowUpView, ResolveFollowUp
from fieldsvc.trail.service import TrailWriter
from fieldsvc.verdicts import outbox
from fieldsvc.verdicts.outbox import as_uuid
from fieldsvc.visible import shows_text

FollowUpNotFound = api_error(404, "follow_up.not_found", "No such follow-up.")
AlreadyResolved = api_error(
    409, "follow_up.already_resolved", "This follow-up was already resolved; it is kept as it was."
)
ResolutionRequired = api_error(422, "follow_up.resolution_required", "Say what the customer was told.")


def view(row: repository.Row, now: datetime) -> FollowUpView:
    return FollowUpView(
        id=as_uuid(row["id"]),
        visit_id=as_uuid(row["visit"]),
        work_order_id=as_uuid(row["work_order"]),
        technician_id=row["technician"] and as_uuid(row["technician"]),
        question=row["question"],
        customer_name=row["customer_name"],
        customer_phone=row["customer_phone"],
        address=row["address"],
        asked_at=row["asked_at"],
        due_at=row["due_at"],
        overdue=row["resolved_at"] is None and row["due_at"] < now,
        resolved_at=row["resolved_at"],
        resolution=row["resolution"],
    )


class FollowUpService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def list(self, state: str, limit: int, offset: int) -> list[FollowUpView]:
        now = self.ctx.now()
        return [view(row, now) for row in await repository.follow_ups(state, now, limit, offset)]

    async def resolve(self, follow_up_id: UUID, body: ResolveFollowUp, caller: Caller) -> FollowUpView:
        """V-ASK: record the answer once; the visit is re-audited (its question is no longer overdue, or late)."""
        if not shows_text(body.resolution):  # a zero-width space strips to nothing no more than a space (a probe)
            raise ResolutionRequired()
        now = self.ctx.now()
        async with db.write_transaction(self.ctx.engine):
            row = await repository.follow_up(follow_up_id)
            if row is None:
                raise FollowUpNotFound()
            if not await repository.resolve(follow_up_id, now, body.resolution):
                raise AlreadyResolved()
            visit_id = as_uuid(row["visit"])
            # Not new evidence from the technician: a returned visit stays with its technician (A-DECIDE).
            await outbox.mark_without_new_evidence([visit_id], now)
            await TrailWriter(self.ctx).append(
                "follow_up.resolved", visit_id, caller,
                {"followUpId": follow_up_id, "resolution": body.resolution, "resolvedAt": now},
            )
        self.ctx.audit_wakeup.set()
        return view({**row, "resolved_at": now, "resolution": body.resolution}, now)
