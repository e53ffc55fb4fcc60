"""Queries for the auditor queue and review decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.columns.combination import Combinable

from fieldsvc import db
from fieldsvc.audit.findings import violation_key
from fieldsvc.tables import AuditFinding, AuditResult, Photo, ReviewDecision, Visit, VisitEvent

QUEUE_STATES = ("none", "open")


async def flagged_queue(filters: dict[str, Any], limit: int, offset: int) -> list[dict[str, Any]]:
    """A-QUEUE: flagged visits not yet decided (or returned for correction, or decided), oldest agreed time first."""
    query = Visit.select(
        Visit.id,
        Visit.work_order,
        Visit.agreed_time,
        Visit.technician,
        Visit.review_state,
        Visit.work_order.kind.as_alias("kind"),
        Visit.work_order.customer.tier.as_alias("tier"),
        Visit.technician.name.as_alias("technician_name"),
        Visit.technician.team.as_alias("team"),
        Visit.work_order.site.time_zone.as_alias("time_zone"),
    ).where(_in_queue(filters))
    return await query.order_by(Visit.agreed_time).order_by(Visit.id).limit(limit).offset(offset)


async def flagged_count(filters: dict[str, Any]) -> int:
    """A-QUEUE: how many visits the same filters find in all, past any page."""
    return await Visit.count().where(_in_queue(filters))


def _in_queue(filters: dict[str, Any]) -> Combinable:
    if filters.get("state", "awaiting") == "awaiting":
        condition: Combinable = (Visit.verdict == "flagged") & Visit.review_state.is_in(list(QUEUE_STATES))
    else:  # returned (whatever the verdict of its correction so far), confirmed or dismissed
        condition = Visit.review_state == filters["state"]
    if filters.get("technician_id"):
        condition &= Visit.technician == filters["technician_id"]
    if filters.get("team"):
        condition &= Visit.technician.team == filters["team"]
    if filters.get("kind"):
        condition &= Visit.work_order.kind == filters["kind"]
    if filters.get("tier"):
        condition &= Visit.work_order.customer.tier == filters["tier"]
    if filters.get("date_from"):
        condition &= Visit.agreed_time >= filters["date_from"]
    if filters.get("date_to"):
        condition &= Visit.agreed_time < filters["date_to"]
    if filters.get("rule_id") or filters.get("severity"):
        matching = AuditFinding.select(AuditFinding.visit)
        if filters.get("rule_id"):
            matching = matching.where(AuditFinding.rule_id == filters["rule_id"])
        # A rule alone finds the visits flagged for it: a warning of it on a visit flagged for something else
        # filled the list with visits the rule had not flagged (a probe).
        severity = filters.get("severity") or "violation"
        matching = matching.where(AuditFinding.severity == severity)
        condition &= Visit.id.is_in(matching)
    return condition


async def violations_of(visit_ids: list[UUID]) -> dict[UUID, list[str]]:
    if not visit_ids:
        return {}
    rows = await AuditFinding.select(AuditFinding.visit, AuditFinding.rule_id).where(
        AuditFinding.visit.is_in(visit_ids) & (AuditFinding.severity == "violation")
    )
    found: dict[UUID, set[str]] = {}
    for row in rows:
        found.setdefault(row["visit"], set()).add(row["rule_id"])
    return {visit_id: sorted(rules) for visit_id, rules in found.items()}


async def lock_visit(visit_id: UUID, engine) -> dict[str, Any] | None:  # noqa: ANN001
    return await db.locked(
        Visit.select(
            Visit.id, Visit.verdict, Visit.review_state, Visit.status, Visit.work_order, Visit.booked_at
        ).where(Visit.id == visit_id),
        engine,
    ).first()


async def violation_keys(visit_id: UUID) -> list[str]:
    """The violations of the visit's stored verdict, each as its code and the facts it is about (A-DECIDE)."""
    row = await AuditResult.select(AuditResult.findings).where(AuditResult.visit == visit_id).first().output(
        load_json=True
    )
    findings = row["findings"] if row else []
    return sorted({violation_key(finding) for finding in findings if finding["severity"] == "violation"})


async def insert_decision(row: ReviewDecision) -> None:
    await row.save()


async def set_review_state(visit_id: UUID, review_state: str, status: str | None, at: datetime) -> None:
    values: dict = {Visit.review_state: review_state, Visit.updated_at: at}
    if status is not None:
        values[Visit.status] = status
    await Visit.update(values).where(Visit.id == visit_id)


async def decision_ids(visit_ids: list[UUID]) -> dict[UUID, list[UUID]]:
    if not visit_ids:
        return {}
    decided: dict[UUID, list[UUID]] = {}
    for row in await ReviewDecision.select(ReviewDecision.visit, ReviewDecision.id).where(
        ReviewDecision.visit.is_in(visit_ids)
    ):
        decided.setdefault(row["visit"], []).append(row["id"])
    return decided


async def decisions_of(visit_id: UUID) -> list[dict[str, Any]]:
    return await (
        ReviewDecision.select(ReviewDecision.all_columns(), ReviewDecision.auditor.username.as_alias("auditor_username"))
        .where(ReviewDecision.visit == visit_id)
        .order_by(ReviewDecision.decided_at)
        .output(load_json=True)
    )


async def latest_result(visit_id: UUID) -> dict[str, Any] | None:
    return await AuditResult.select().where(AuditResult.visit == visit_id).output(load_json=True).first()


async def visit_events(visit_id: UUID) -> list[dict[str, Any]]:
    return await (
        VisitEvent.select()
        .where(VisitEvent.visit == visit_id)
        .order_by(VisitEvent.corrected_time)
        .order_by(VisitEvent.event_id)
        .output(load_json=True)
    )


async def review_state(visit_id: UUID) -> str:
    row = await Visit.select(Visit.review_state).where(Visit.id == visit_id).first()
    return row["review_state"] if row else "none"


async def visit_photos(visit_id: UUID) -> list[dict[str, Any]]:
    return await (
        Photo.select(Photo.all_columns(), Photo.event.event_id.as_alias("event_id"))
        .where((Photo.visit == visit_id) & Photo.status.is_in(["accepted", "withdrawn"]))
        .order_by(Photo.created_at)
        .order_by(Photo.id)
    )


async def return_requests(visit_ids: list[UUID]) -> dict[UUID, dict[str, Any]]:
    """The latest 'return' decision of each visit (A-DECIDE), for visits an auditor sent back."""
    if not visit_ids:
        return {}
    rows = await (
        ReviewDecision.select(ReviewDecision.visit, ReviewDecision.reason, ReviewDecision.requested)
        .where(ReviewDecision.visit.is_in(visit_ids) & (ReviewDecision.decision == "return"))
        .order_by(ReviewDecision.decided_at)
        .output(load_json=True)
    )
    return {row["visit"]: row for row in rows}
