"""Claiming a fact: it is decided on its visit as read, and claimed (with its re-audit mark and trail entries) only if
the visit is still the technician's and in that status; on PostgreSQL the claim is one statement of its own."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from uuid import UUID, uuid4

from fieldsvc import db
from fieldsvc.mobile.repository import Claimed, FactClaim, claim_fact
from fieldsvc.tables import AuditDue, TrailPending, Visit, VisitEvent
from fieldsvc.trail.service import TrailWriter
from tests.conftest import quiet
from tests.integration.mobile_builders import other_visit_id, phone, visit_id  # noqa: F401 - fixtures


def note_claim(app, visit: UUID, technician: UUID, status_before: str, status: str | None = None) -> FactClaim:  # noqa: ANN001
    now = datetime.now(UTC)
    trail = TrailWriter(app.state.ctx)
    return FactClaim(
        event={
            "id": uuid4(), "event_id": uuid4(), "visit": visit, "technician": technician, "kind": "note",
            "body_digest": "0" * 64, "payload": {"topic": "general", "text": "claimed"}, "result": {},
            "corrected_time": now, "time_source": "server",
            "server_received_at": now,
        },  # fmt: skip
        technician=technician,
        status_before=status_before,
        status=status,
        at=now,
        located=False,
        entries=[trail.entry("fact.note", visit, None, {"n": 1}), trail.entry("visit.status", visit, None, {"n": 2})],
    )


async def claimed(app, claim: FactClaim) -> Claimed:  # noqa: ANN001
    """As the phone's path claims it: on PostgreSQL a statement of its own, on SQLite in the write transaction."""
    engine = app.state.ctx.engine
    async with db.write_transaction(engine) if db.is_sqlite(engine) else contextlib.nullcontext():
        return await claim_fact(claim, engine)


async def technician_of(visit: str) -> UUID:
    return (await Visit.select(Visit.technician).where(Visit.id == visit).first())["technician"]


async def test_a_fact_claimed_on_its_visit_as_read_commits_with_its_status_change_mark_and_trail_entries(
    app, visit_id
):
    await quiet(app)  # the booking's own entries are chained first: only the claim's are queued below
    claim = note_claim(app, UUID(visit_id), await technician_of(visit_id), "assigned", status="en_route")
    async with db.write_transaction(app.state.ctx.engine):  # the background auditor cannot take the mark meanwhile
        assert await claim_fact(claim, app.state.ctx.engine) is Claimed.NOW
        marks = await AuditDue.count().where(AuditDue.visit == visit_id)
        queued = await TrailPending.select(TrailPending.kind).where(TrailPending.subject_id == visit_id)
        await AuditDue.delete().where(AuditDue.visit == visit_id)
    status = (await Visit.select(Visit.status).where(Visit.id == visit_id).first())["status"]
    assert (marks, [row["kind"] for row in queued], status) == (1, ["fact.note", "visit.status"], "en_route")


async def test_a_fact_claimed_again_by_its_event_id_is_claimed_before(app, visit_id):
    claim = note_claim(app, UUID(visit_id), await technician_of(visit_id), "assigned")
    assert await claimed(app, claim) is Claimed.NOW
    assert await claimed(app, claim) is Claimed.BEFORE
    assert await VisitEvent.count().where(VisitEvent.event_id == claim.event["event_id"]) == 1


async def test_a_fact_decided_on_an_earlier_status_of_its_visit_is_not_claimed_and_leaves_nothing(
    app, phone, visit_id
):
    assert (await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))).status_code == 201
    events = await VisitEvent.count()
    claim = note_claim(app, UUID(visit_id), await technician_of(visit_id), "assigned", status="en_route")

    assert await claimed(app, claim) is Claimed.VISIT_CHANGED
    status = (await Visit.select(Visit.status).where(Visit.id == visit_id).first())["status"]
    assert (await VisitEvent.count(), status) == (events, "on_site")


async def test_a_fact_decided_before_its_visit_was_handed_to_another_technician_is_not_claimed(
    app, visit_id, other_visit_id
):
    claim = note_claim(app, UUID(visit_id), await technician_of(other_visit_id), "assigned")
    assert await claimed(app, claim) is Claimed.VISIT_CHANGED
    assert await VisitEvent.count().where(VisitEvent.event_id == claim.event["event_id"]) == 0
