"""Auditor use cases: the queue of flagged visits and decisions on them (A-QUEUE, A-DECIDE)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fieldsvc import db
from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.dispatch import repository as dispatch_repository
from fieldsvc.errors import api_error
from fieldsvc.review import repository
from fieldsvc.review.schemas import DecideVisit, DecisionView, QueueEntry
from fieldsvc.tables import ReviewDecision
from fieldsvc.trail.service import TrailWriter
from fieldsvc.verdicts import repository as verdict_repository
from fieldsvc.verdicts.service import VerdictService
from fieldsvc.visible import shows_text

ReviewVisitNotFound = api_error(404, "visit.not_found", "No such visit.")
NotPending = api_error(
    409, "review.not_pending",
    "Only a flagged visit that has not been decided, or one returned to its technician, can be decided.",
)
ReasonRequired = api_error(422, "review.reason_required", "Dismissing or returning a visit needs a reason.")
RequestRequired = api_error(422, "review.request_required", "Returning a visit needs the list of what to add or correct.")
RequestNotForDecision = api_error(
    422, "review.request_only_for_return", "Only a return asks the technician for something: leave out requested."
)
CancelledNotReturnable = api_error(
    409, "review.cancelled_not_returnable", "The visit was cancelled: it can be confirmed or dismissed, not returned."
)
VerdictChanged = api_error(
    409,
    "review.verdict_changed",
    "The visit's verdict changed since it was read (a fact arrived late, or a deadline passed): read the evidence "
    "again and decide on the verdict it shows now.",
)
Superseded = api_error(
    409,
    "review.superseded",
    "A later visit on this work order has been booked: this visit can be confirmed or dismissed, not returned.",
)

REVIEW_STATE_AFTER = {"confirm": "confirmed", "dismiss": "dismissed", "return": "returned"}


def decision_digest(verdict_digest: str, decision_ids: Iterable[UUID], review_state: str) -> str:
    """What a decision names (verdictDigest): the verdict's digest, joined with the visit's decisions so far and its
    review state when it has any. A visit returned and completed again can keep its verdict; a decision from a page
    read before the return, or while the visit was with its technician, would cover a correction its auditor never saw
    (a probe)."""
    decided = sorted(str(decision) for decision in decision_ids)
    if not decided:
        return verdict_digest
    return hashlib.sha256(":".join([verdict_digest, review_state, *decided]).encode()).hexdigest()


def decision_view(row: dict[str, Any]) -> DecisionView:
    return DecisionView(
        id=row["id"],
        visit_id=row["visit"],
        auditor_id=row["auditor"],
        auditor_username=row["auditor_username"],
        decision=row["decision"],
        reason=row["reason"],
        requested=list(row["requested"] or []),
        decided_at=row["decided_at"],
        covers=list(row["decided_codes"] or []),
    )


class ReviewService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    async def queue(self, filters: dict[str, Any], limit: int, offset: int) -> tuple[list[QueueEntry], int]:
        """A page of the queue and how many visits the filters find in all."""
        await VerdictService(self.ctx).settle()  # A-REAUDIT: no visit missing from the queue for want of an audit
        async with db.read_snapshot(self.ctx.engine):  # the page, its count and what it shows, of one moment
            rows = await repository.flagged_queue(filters, limit, offset)
            total = await repository.flagged_count(filters)
            violations = await repository.violations_of([r["id"] for r in rows])
            digests = await verdict_repository.stored_digests([r["id"] for r in rows])
            decided = await repository.decision_ids([r["id"] for r in rows])
        entries = [
            QueueEntry(
                visit_id=r["id"],
                work_order_id=r["work_order"],
                kind=r["kind"],
                tier=r["tier"],
                agreed_time=r["agreed_time"],
                technician_id=r["technician"],
                technician_name=r["technician_name"],
                team=r["team"],
                review_state=r["review_state"],
                violations=violations.get(r["id"], []),
                # Flagged visits have a verdict; a row gone is no 500.
                verdict_digest=decision_digest(digests.get(r["id"], ""), decided.get(r["id"], ()), r["review_state"]),
                site_time_zone=r["time_zone"],
                site_local_time=r["agreed_time"].astimezone(ZoneInfo(r["time_zone"])).strftime("%Y-%m-%d %H:%M"),
            )
            for r in rows
        ]
        return entries, total

    async def decide(self, visit_id: UUID, data: DecideVisit, caller: Caller) -> DecisionView:
        if data.decision in ("dismiss", "return") and not shows_text(data.reason):
            raise ReasonRequired()
        if data.decision == "return" and not data.requested:
            raise RequestRequired()
        if data.decision != "return" and data.requested:  # stored silently, it would read as a request nobody sent
            raise RequestNotForDecision()
        await VerdictService(self.ctx).settle()  # decide on the verdict of every recorded fact
        now = self.ctx.now()
        async with db.write_transaction(self.ctx.engine):
            visit = await repository.lock_visit(visit_id, self.ctx.engine)
            if visit is None:
                raise ReviewVisitNotFound()
            # A returned visit can be confirmed or dismissed as it stands, which ends the return: its technician may have
            # left, and the correction waited for them for ever (a probe).
            taking_back = visit["review_state"] == "returned" and data.decision != "return"
            if not taking_back and (visit["verdict"] != "flagged" or visit["review_state"] not in repository.QUEUE_STATES):
                raise NotPending(
                    f"The visit's verdict is {visit['verdict']} and its review is {visit['review_state']}."
                )
            # Completed again since the audit settled: the correction is on its way to the queue, unseen (a probe).
            if taking_back and visit["status"] != "returned":
                raise NotPending("The technician has just completed the correction: it comes back to the queue audited.")
            # A cancelled visit never happened: there is nothing the technician could add to it.
            if data.decision == "return" and visit["status"] == "cancelled":
                raise CancelledNotReturnable()
            # Its completion would close the work order over the later visit's outcome. The order is locked first, as
            # a booking locks it: checked unlocked, a visit booked meanwhile went unseen, and both committed (a probe).
            if data.decision == "return":
                await dispatch_repository.lock_work_order(visit["work_order"], self.ctx.engine)
                if await dispatch_repository.later_visit_booked(visit["work_order"], visit["booked_at"]):
                    raise Superseded()
            # Under the visit's lock, which a verdict's write takes too: the verdict checked is the one decided on. A
            # dismissal covered a violation a passed deadline had added after its auditor read the evidence (a probe).
            verdict_digest = (await verdict_repository.stored_digests([visit_id])).get(visit_id)
            expected = verdict_digest and decision_digest(
                verdict_digest, (await repository.decision_ids([visit_id])).get(visit_id, ()), visit["review_state"]
            )
            if expected != data.verdict_digest:
                raise VerdictChanged(details={"verdictDigest": expected})
            covers = await repository.violation_keys(visit_id)
            row = ReviewDecision(
                visit=visit_id,
                auditor=caller.user_id,
                decision=data.decision,
                reason=data.reason,
                requested=list(data.requested),
                decided_at=now,
                decided_codes=covers,
            )
            await repository.insert_decision(row)
            # A return re-opens the visit so the technician's phone may add or correct evidence; taking it back closes it.
            status = "returned" if data.decision == "return" else "completed" if taking_back else None
            await repository.set_review_state(visit_id, REVIEW_STATE_AFTER[data.decision], status, now)
            await TrailWriter(self.ctx).append(
                f"review.{data.decision}", visit_id, caller,
                {"reason": data.reason, "requested": list(data.requested), "verdict": verdict_digest, "covers": covers},
            )
        return decision_view(
            {"id": row.id, "visit": visit_id, "auditor": caller.user_id, "auditor_username": caller.username,
             "decision": data.decision, "reason": data.reason, "requested": list(data.requested), "decided_at": now,
             "decided_codes": covers}
        )
