"""A-TRAIL: trail verify checks that each stored verdict is the one its visit's facts give, unless a re-audit is due."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import AsyncIterator
from uuid import UUID

from fieldsvc import db
from fieldsvc.tables import AuditResult
from fieldsvc.verdicts import outbox
from fieldsvc.verdicts.freshness import first_stale_verdict
from fieldsvc.verdicts.sweep import mark_overdue
from tests.conftest import quiet
from tests.integration.mobile_builders import AT_SITE, phone, visit_id  # noqa: F401 - fixtures

TWO_KM_NORTH = {"latitude": AT_SITE["latitude"] + 0.018}

_DROP_MARKS_SQLITE = (
    "CREATE TRIGGER drop_new_marks AFTER INSERT ON audit_due BEGIN DELETE FROM audit_due WHERE id = NEW.id; END",
    "CREATE TRIGGER drop_marked_again AFTER UPDATE ON audit_due BEGIN DELETE FROM audit_due WHERE id = NEW.id; END",
)
_DROP_MARKS_POSTGRES = (
    "CREATE FUNCTION drop_mark() RETURNS trigger AS $$ BEGIN DELETE FROM audit_due WHERE id = NEW.id; RETURN NULL; "
    "END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER drop_marks AFTER INSERT OR UPDATE ON audit_due FOR EACH ROW EXECUTE FUNCTION drop_mark()",
)


@asynccontextmanager
async def re_audit_marks_removed_as_written(engine) -> AsyncIterator[None]:  # noqa: ANN001
    """An insider's trigger: every visit's re-audit mark is deleted as its fact's transaction writes it."""
    sqlite = db.is_sqlite(engine)
    for statement in _DROP_MARKS_SQLITE if sqlite else _DROP_MARKS_POSTGRES:
        await engine.run_ddl(statement)
    try:
        yield
    finally:
        for statement in ("DROP TRIGGER drop_new_marks", "DROP TRIGGER drop_marked_again") if sqlite else (
            "DROP TRIGGER drop_marks ON audit_due", "DROP FUNCTION drop_mark()"
        ):
            await engine.run_ddl(statement)


async def test_verdicts_of_an_honest_visit_are_the_ones_its_facts_give(app, phone, visit_id):
    await phone.post(visit_id, "on-my-way", phone.fact())
    await phone.post(visit_id, "arrival", phone.fact(location=phone.location(**TWO_KM_NORTH)))
    await quiet(app)

    checked, stale = await first_stale_verdict(app.state.ctx)

    assert (checked, stale) == (1, None)


async def test_a_verdict_its_later_facts_overturn_is_named_when_the_visits_re_audit_marks_were_removed(
    app, phone, visit_id
):
    await phone.post(visit_id, "on-my-way", phone.fact())
    await quiet(app)
    before = await AuditResult.select(AuditResult.status, AuditResult.facts_digest).where(AuditResult.visit == visit_id)
    async with re_audit_marks_removed_as_written(app.state.ctx.engine):
        response = await phone.post(visit_id, "arrival", phone.fact(location=phone.location(**TWO_KM_NORTH)))
        await quiet(app)
    after = await AuditResult.select(AuditResult.status, AuditResult.facts_digest).where(AuditResult.visit == visit_id)

    _, stale = await first_stale_verdict(app.state.ctx)

    assert response.status_code == 201 and after == before  # the 2 km check-in's V-GEOFENCE never reached it
    assert stale is not None and (stale.table, stale.row_id) == ("audit_result", visit_id)
    assert "+v.geofence.outside" in stale.reason, stale.reason
    assert "no re-audit of the visit is due" in stale.reason


async def test_a_verdict_whose_visit_is_marked_for_re_audit_is_not_stale_its_re_audit_is_due(app, phone, visit_id):
    await phone.post(visit_id, "on-my-way", phone.fact())
    await quiet(app)
    async with re_audit_marks_removed_as_written(app.state.ctx.engine):
        await phone.post(visit_id, "arrival", phone.fact(location=phone.location(**TWO_KM_NORTH)))
    now = datetime.now(UTC)
    async with db.write_transaction(app.state.ctx.engine):  # marked, and held as if an auditor were on it
        await outbox.mark(UUID(visit_id), True, now)
        held = await outbox.claim(1, now, now + timedelta(days=1))

    _, stale = await first_stale_verdict(app.state.ctx)

    await outbox.release(held, audited=False)
    assert [due.visit for due in held] == [UUID(visit_id)] and stale is None


async def test_a_verdict_a_passed_deadline_changes_is_not_stale_before_the_auditors_sweep(app, phone, visit_id, clock):
    """Deadline findings (V-ASK's follow-up) appear when the sweep re-audits the visit, not the moment they pass."""
    await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))
    assert (await phone.post(visit_id, "questions", phone.fact(question="Can I get IPTV?"))).status_code == 201
    await quiet(app)
    before = await stored_digest(visit_id)
    clock.advance(hours=49)  # the follow-up is overdue; no sweep has re-audited the visit yet

    _, stale = await first_stale_verdict(app.state.ctx)

    assert stale is None
    assert await mark_overdue(app.state.ctx.policies, clock()) == 1
    await quiet(app)
    assert await stored_digest(visit_id) != before  # the sweep's re-audit did change it: v.ask.overdue


async def stored_digest(visit_id: str) -> str:
    return (await AuditResult.select(AuditResult.facts_digest).where(AuditResult.visit == visit_id).first())[
        "facts_digest"
    ]
