"""A-REAUDIT and A-TRAIL in the background: facts commit with their pending re-audit and trail entry; the auditor
of the running app (or a reader settling first) does the rest, once per burst, and loses nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from fieldsvc import db
from fieldsvc.tables import AuditDue, AuditResult, TrailEntry, TrailPending, WorkOrder
from fieldsvc.trail.service import verify_trail
from fieldsvc.verdicts import outbox
from fieldsvc.verdicts.sweep import mark_overdue
from tests.conftest import login
from tests.integration.builders import book, booked_visit
from fieldsvc.verdicts.service import VerdictService, affected_visits
from tests.integration.mobile_builders import AGREED, assigned_visit, phone, trail_entries, visit_id  # noqa: F401

WAIT_SECONDS = 10.0


async def eventually(condition) -> bool:  # noqa: ANN001
    """Poll until the background auditor has made the condition true, without any reader settling first."""
    give_up = asyncio.get_running_loop().time() + WAIT_SECONDS
    while not await condition():
        if asyncio.get_running_loop().time() > give_up:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_a_fact_gets_its_verdict_from_the_background_auditor_without_any_reader(phone, visit_id):
    response = await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))
    assert response.status_code == 201

    async def audited() -> bool:
        verdict = await AuditResult.exists().where(AuditResult.visit == visit_id)
        return verdict and not await AuditDue.exists()

    assert await eventually(audited)


async def test_a_facts_trail_entry_is_chained_by_the_background_auditor_and_the_chain_verifies(app, phone, visit_id):
    await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))

    async def chained() -> bool:
        return not await TrailPending.exists() and await TrailEntry.exists().where(TrailEntry.kind == "fact.arrival")

    assert await eventually(chained)
    checked, broken = await verify_trail(app.state.ctx)
    assert broken is None and checked >= 2  # the fact and the visit's status change at least


async def test_a_burst_of_facts_on_one_visit_is_one_pending_re_audit(app, visit_id):
    async with db.write_transaction(app.state.ctx.engine):  # the background auditor cannot see or take it meanwhile
        for located in (False, True, False):
            await outbox.mark(visit_id, located, datetime.now(UTC))
        rows = await AuditDue.select(AuditDue.located).where(AuditDue.visit == visit_id)
        await AuditDue.delete().where(AuditDue.visit == visit_id)
    assert [bool(row["located"]) for row in rows] == [True]  # one row; a located fact in the burst is remembered


async def test_a_visit_marked_again_while_being_audited_stays_due_and_free_to_claim(app, visit_id):
    now = datetime.now(UTC)
    async with db.write_transaction(app.state.ctx.engine):
        await outbox.mark(visit_id, False, now)
        claimed = await outbox.claim(10, now, now + timedelta(minutes=5))
        await outbox.mark(visit_id, True, now)  # a fact that committed while the audit ran
        await outbox.release(claimed)
        after_release = await AuditDue.select(AuditDue.lease_until).where(AuditDue.visit == visit_id)
        reclaimed = await outbox.claim(10, now, now + timedelta(minutes=5))
        await outbox.release(reclaimed)
        left = await AuditDue.count()
    assert [due.visit for due in claimed] == [due.visit for due in reclaimed] == [UUID(visit_id)]
    assert after_release == [{"lease_until": None}] and reclaimed[0].located and left == 0


async def test_a_visit_marked_without_new_evidence_while_being_audited_stays_due_for_its_first_reason(app, visit_id):
    now = datetime.now(UTC)
    async with db.write_transaction(app.state.ctx.engine):
        await outbox.mark(visit_id, True, now, resubmits=True)  # a returned visit's completion, with a fix
        claimed = await outbox.claim(10, now, now + timedelta(minutes=5))
        await outbox.mark_without_new_evidence([UUID(visit_id)], now)  # a follow-up answered while the audit ran
        await outbox.release(claimed)
        reclaimed = await outbox.claim(10, now, now + timedelta(minutes=5))
        await outbox.release(reclaimed)
    assert [(due.visit, due.located, due.reopens) for due in reclaimed] == [(UUID(visit_id), True, True)]


async def test_a_leased_visit_is_not_claimed_again_until_its_lease_runs_out(app, visit_id):
    now = datetime.now(UTC)
    async with db.write_transaction(app.state.ctx.engine):
        await outbox.mark(visit_id, False, now)
        first = await outbox.claim(10, now, now + timedelta(seconds=30))
        while_leased = await outbox.claim(10, now + timedelta(seconds=29), now + timedelta(minutes=1))
        after_lease = await outbox.claim(10, now + timedelta(seconds=31), now + timedelta(minutes=1))
        await outbox.release(after_lease)
    assert len(first) == 1 and while_leased == [] and [due.visit for due in after_lease] == [UUID(visit_id)]


async def violations_shown(client, auditor: dict[str, str], visit_id: str) -> set[str]:  # noqa: ANN001
    body = (await client.get(f"/v1/review/visits/{visit_id}", headers=auditor)).json()
    return {f["ruleId"] for f in body["verdict"]["findings"] if f["severity"] == "violation"}


async def test_b_repair_a_deadline_passing_without_any_fact_is_flagged_at_the_next_deadline_sweep(
    client, phone, people, as_dispatcher, as_auditor, clock, app
):
    repair = await assigned_visit(client, as_dispatcher, kind="repair")
    assert (await phone.post(repair, "arrival", phone.fact(location=phone.location()))).status_code == 201
    assert "B-REPAIR" not in await violations_shown(client, as_auditor, repair)

    clock.advance(days=3)  # the repair is still unresolved, and no fact arrives to trigger a re-audit
    auditor = await login(client, people.auditor)
    assert "B-REPAIR" not in await violations_shown(client, auditor, repair)
    assert await mark_overdue(app.state.ctx.policies, clock()) == 1

    assert "B-REPAIR" in await violations_shown(client, auditor, repair)


async def test_b_repair_a_customers_move_undone_by_cancelling_and_booking_again_is_overdue_at_the_first_deadline(
    client, people, as_dispatcher, clock, app
):
    first = await booked_visit(client, as_dispatcher, AGREED, kind="repair")
    order_url = f"/v1/work-orders/{first['workOrderId']}"
    due = datetime.fromisoformat((await client.get(order_url, headers=as_dispatcher)).json()["deadlines"]["resolveDueAt"])
    later = {"newTime": (AGREED + timedelta(hours=6)).isoformat(), "initiator": "customer",
             "reasonCode": "customer_requested", "customerConfirmed": True}
    assert (await client.post(f"/v1/visits/{first['id']}/reschedule", json=later, headers=as_dispatcher)).status_code == 200
    cancel = {"reasonCode": "other", "requestedBy": "company", "note": "booked again"}
    assert (await client.post(f"/v1/visits/{first['id']}/cancel", json=cancel, headers=as_dispatcher)).status_code == 200
    clock.advance(minutes=1)
    again = (await book(client, as_dispatcher, first["workOrderId"], AGREED)).json()["id"]

    clock.now = due + timedelta(minutes=1)
    await mark_overdue(app.state.ctx.policies, clock())

    assert "B-REPAIR" in await violations_shown(client, await login(client, people.auditor), again)


async def test_a_deadline_sweep_leaves_a_visit_alone_once_its_overdue_finding_is_recorded(
    client, phone, people, as_dispatcher, clock, app
):
    repair = await assigned_visit(client, as_dispatcher, kind="repair")
    assert (await phone.post(repair, "arrival", phone.fact(location=phone.location()))).status_code == 201
    clock.advance(days=3)
    assert await mark_overdue(app.state.ctx.policies, clock()) == 1
    assert "B-REPAIR" in await violations_shown(client, await login(client, people.auditor), repair)
    entries = await trail_entries("1 = 1")

    clock.advance(hours=1)  # the repair has now waited longer still, but the finding already says it is overdue
    assert await mark_overdue(app.state.ctx.policies, clock()) == 0
    assert await trail_entries("1 = 1") == entries


async def test_a_resolved_repair_without_open_questions_is_left_out_of_the_deadline_sweep(
    client, as_dispatcher, clock, app
):
    visit = await assigned_visit(client, as_dispatcher, kind="repair")
    order_id = (await client.get(f"/v1/visits/{visit}", headers=as_dispatcher)).json()["workOrderId"]
    await WorkOrder.update({WorkOrder.status: "closed", WorkOrder.outcome: "resolved"}).where(WorkOrder.id == order_id)
    clock.advance(days=3)

    assert await mark_overdue(app.state.ctx.policies, clock()) == 0


async def test_b_repair_a_repair_closed_unresolved_is_swept_once_its_deadline_passes(
    client, people, as_dispatcher, clock, app
):
    visit = await assigned_visit(client, as_dispatcher, kind="repair")
    order_id = (await client.get(f"/v1/visits/{visit}", headers=as_dispatcher)).json()["workOrderId"]
    await WorkOrder.update({WorkOrder.status: "closed", WorkOrder.outcome: "unresolved"}).where(WorkOrder.id == order_id)
    assert await mark_overdue(app.state.ctx.policies, clock()) == 0

    clock.advance(days=3)
    assert await mark_overdue(app.state.ctx.policies, clock()) == 1
    assert "B-REPAIR" in await violations_shown(client, await login(client, people.auditor), visit)


async def test_b_repair_a_standard_repair_is_not_swept_before_its_48_hours(client, as_dispatcher, clock, app):
    await assigned_visit(client, as_dispatcher, kind="repair", tier="standard")
    clock.advance(hours=30)  # past the 24 h of the other tiers, within the standard tier's 48 h

    assert await mark_overdue(app.state.ctx.policies, clock()) == 0


async def test_new_fixes_days_apart_re_audit_the_technicians_visits_near_each_not_those_in_between(
    client, phone, people, clock
):
    hours, visits = [0, 48, 96, 102], []  # day 0, day 2, day 4 and that afternoon
    for previous, hour in zip([0, *hours], hours):
        clock.advance(hours=hour - previous)  # each booked the same day (B-INSTALL-24), checked in on time
        dispatcher, phone.auth = await login(client, people.dispatcher), await login(client, people.tech)
        visits.append(await assigned_visit(client, dispatcher, agreed_time=AGREED + timedelta(hours=hour)))
        assert (await phone.post(visits[-1], "arrival", phone.fact(location=phone.location()))).status_code == 201
    first, between, last, afternoon = (UUID(visit) for visit in visits)

    # E-MOCK reads a technician's fixes 12 h either side of a visit's own: day 2 is nobody's neighbour here.
    assert await affected_visits([first, last], [first, last]) == {afternoon}


async def test_auditors_re_auditing_one_visit_at_once_take_turns_and_store_one_verdict(app, visit_id):
    # Two rounds whose due visits both touch this one (a neighbour), and a reader settling, all write its verdict.
    engine = app.state.ctx.engine
    await AuditResult.delete().where(AuditResult.visit == visit_id)

    async def audit_once() -> None:
        async with db.write_transaction(engine):
            await VerdictService(app.state.ctx).reaudit([UUID(visit_id)], None)

    await asyncio.gather(*(audit_once() for _ in range(4)))

    assert await AuditResult.count().where(AuditResult.visit == visit_id) == 1


async def test_a_bulk_re_audit_of_unchanged_facts_writes_no_verdict_and_no_trail_entry(app, phone, visit_id):
    await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))
    service = VerdictService(app.state.ctx)
    await service.settle()
    before = await AuditResult.select(AuditResult.audited_at, AuditResult.facts_digest).first()
    entries = await TrailEntry.count() + await TrailPending.count()

    assert await service.reaudit_all([UUID(visit_id)], lambda done: None) == 1
    assert await AuditResult.select(AuditResult.audited_at, AuditResult.facts_digest).first() == before
    assert await TrailEntry.count() + await TrailPending.count() == entries


async def test_a_bulk_re_audit_of_a_few_hundred_visits_reports_progress_as_it_goes(app, visit_id):
    visits = [UUID(visit_id)] + [uuid4() for _ in range(199)]  # unknown ids are simply not there to audit
    reported: list[int] = []

    await VerdictService(app.state.ctx).reaudit_all(visits, reported.append)

    assert reported == [50, 100, 150, 200]
