"""B-RESCHED compliance and its effect on the punctuality and SLA references; the at-risk list."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import quiet
from tests.integration.builders import SHANGHAI_SITE, assign, booked_visit, create_order, technician_id
from tests.integration.mobile_builders import AGREED, phone, visit_id  # noqa: F401 - the phone and visit are fixtures

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2030, 3, 4, 12, 0, tzinfo=SHANGHAI)  # the frozen clock is 09:00 Shanghai


def move(new_time: datetime, **extra) -> dict:
    return {"newTime": new_time.isoformat(), "initiator": "customer", "reasonCode": "customer_requested",
            "customerConfirmed": True, **extra}


async def reschedule(client, headers, visit_id, body):
    return await client.post(f"/v1/visits/{visit_id}/reschedule", json=body, headers=headers)


async def repair_deadline(client, headers, visit: dict) -> str:  # noqa: ANN001
    """The B-REPAIR deadline of the visit's order, as the dispatcher sees it."""
    order = (await client.get(f"/v1/work-orders/{visit['workOrderId']}", headers=headers)).json()
    return order["deadlines"]["resolveDueAt"]


async def test_b_resched_early_confirmed_with_reason_is_compliant(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, NOON)
    response = await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=2)))
    assert response.status_code == 200
    record = response.json()["reschedules"][0]
    assert record["compliant"] is True
    assert record["oldTime"] == visit["agreedTime"]


async def test_b_resched_a_customer_calling_while_the_technician_is_on_the_way_gets_the_new_time(
    client, as_dispatcher, phone, visit_id
):
    assert (await phone.post(visit_id, "on-my-way", phone.fact(etaMinutes=30))).json()["visitStatus"] == "en_route"

    response = await reschedule(client, as_dispatcher, visit_id, move(AGREED + timedelta(hours=3)))

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], datetime.fromisoformat(body["agreedTime"])) == ("assigned", AGREED + timedelta(hours=3))


async def test_b_resched_once_the_technician_is_on_site_is_refused(client, as_dispatcher, phone, visit_id):
    assert (await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))).status_code == 201

    response = await reschedule(client, as_dispatcher, visit_id, move(AGREED + timedelta(hours=3)))

    assert (response.status_code, response.json()["code"]) == (409, "visit.not_changeable")


async def test_b_resched_less_than_an_hour_before_is_not_compliant(client, as_dispatcher, clock):
    visit = await booked_visit(client, as_dispatcher, NOON)
    clock.advance(hours=2, minutes=1)  # 11:01, 59 minutes before the appointment
    response = await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=2)))
    assert response.json()["reschedules"][0]["compliant"] is False


async def test_b_resched_exactly_one_hour_before_is_compliant(client, as_dispatcher, clock):
    visit = await booked_visit(client, as_dispatcher, NOON)
    clock.advance(hours=2)  # 11:00
    response = await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=2)))
    assert response.json()["reschedules"][0]["compliant"] is True


async def test_b_resched_without_customer_confirmation_is_not_compliant(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, NOON)
    response = await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=2), customerConfirmed=False))
    assert response.json()["reschedules"][0]["compliant"] is False


async def test_b_resched_moves_the_punctuality_reference(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, NOON)
    new_time = NOON + timedelta(hours=2)
    body = (await reschedule(client, as_dispatcher, visit["id"], move(new_time, initiator="company",
                                                                     reasonCode="technician_unavailable"))).json()
    assert datetime.fromisoformat(body["agreedTime"]) == new_time
    assert datetime.fromisoformat(body["originalAgreedTime"]) == NOON


async def test_b_resched_customer_initiated_moves_the_repair_deadline(client, as_dispatcher):
    order = await create_order(client, as_dispatcher, kind="repair")
    visit = (await client.post(f"/v1/work-orders/{order['id']}/visits", headers=as_dispatcher, json={
        "agreedTime": NOON.isoformat(), "expectedDurationMin": 60,
        "confirmation": {"channel": "phone"}})).json()
    await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=3)))
    after = (await client.get(f"/v1/work-orders/{order['id']}", headers=as_dispatcher)).json()
    shift = datetime.fromisoformat(after["deadlines"]["resolveDueAt"]) - datetime.fromisoformat(order["deadlines"]["resolveDueAt"])
    assert shift == timedelta(hours=3)


@pytest.mark.parametrize("moves", [(1,), (1, 4)], ids=["earlier", "earlier-and-back"])
async def test_b_resched_a_customer_moving_the_visit_earlier_keeps_the_repair_deadline(client, as_dispatcher, moves):
    order = await create_order(client, as_dispatcher, kind="repair")
    visit = (await client.post(f"/v1/work-orders/{order['id']}/visits", headers=as_dispatcher, json={
        "agreedTime": (NOON + timedelta(hours=4)).isoformat(), "expectedDurationMin": 60,
        "confirmation": {"channel": "phone"}})).json()
    for hours_after_noon in moves:  # 16:00 -> 13:00 (-> 16:00)
        response = await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=hours_after_noon)))
        assert response.status_code == 200, response.text
    after = (await client.get(f"/v1/work-orders/{order['id']}", headers=as_dispatcher)).json()
    assert after["deadlines"]["resolveDueAt"] == order["deadlines"]["resolveDueAt"]


async def test_b_resched_a_customer_move_the_company_took_back_keeps_the_repair_deadline(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, NOON, kind="repair")
    before = await repair_deadline(client, as_dispatcher, visit)

    out = await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=6)))
    back = await reschedule(client, as_dispatcher, visit["id"], move(NOON, initiator="company", reasonCode="other",
                                                                    note="a slot came free"))

    assert (out.status_code, back.status_code) == (200, 200), back.text
    assert await repair_deadline(client, as_dispatcher, visit) == before


async def test_b_resched_a_company_move_out_again_after_taking_a_customers_move_back_keeps_the_repair_deadline(
    client, as_dispatcher, clock
):
    visit = await booked_visit(client, as_dispatcher, NOON, kind="repair")
    before = await repair_deadline(client, as_dispatcher, visit)
    by_company = {"initiator": "company", "reasonCode": "technician_unavailable"}

    for body in (move(NOON + timedelta(hours=6)), move(NOON, **by_company), move(NOON + timedelta(hours=6), **by_company)):
        clock.advance(minutes=1)
        response = await reschedule(client, as_dispatcher, visit["id"], body)
        assert response.status_code == 200, response.text

    assert await repair_deadline(client, as_dispatcher, visit) == before


async def test_b_resched_a_customers_move_undone_by_cancelling_and_booking_again_keeps_the_repair_deadline(
    client, as_dispatcher, clock
):
    visit = await booked_visit(client, as_dispatcher, NOON, kind="repair")
    before = await repair_deadline(client, as_dispatcher, visit)
    assert (await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=6)))).status_code == 200
    cancel = {"reasonCode": "other", "requestedBy": "company", "note": "booked again"}
    assert (await client.post(f"/v1/visits/{visit['id']}/cancel", json=cancel, headers=as_dispatcher)).status_code == 200
    clock.advance(minutes=1)

    again = await client.post(f"/v1/work-orders/{visit['workOrderId']}/visits", headers=as_dispatcher, json={
        "agreedTime": NOON.isoformat(), "expectedDurationMin": 60, "confirmation": {"channel": "phone"}})

    assert again.status_code == 201, again.text
    assert await repair_deadline(client, as_dispatcher, visit) == before


async def test_b_resched_a_customers_move_recorded_after_the_repair_deadline_passed_keeps_it(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher, kind="repair", tier="gold", accepted_at=clock.now - timedelta(hours=30))
    visit = (await client.post(f"/v1/work-orders/{order['id']}/visits", headers=as_dispatcher, json={
        "agreedTime": NOON.isoformat(), "expectedDurationMin": 60, "confirmation": {"channel": "phone"}})).json()

    moved = await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=48)))

    assert moved.status_code == 200, moved.text
    after = (await client.get(f"/v1/work-orders/{order['id']}", headers=as_dispatcher)).json()
    assert after["deadlines"]["resolveDueAt"] == order["deadlines"]["resolveDueAt"]  # a missed deadline stays missed


async def test_b_resched_company_initiated_keeps_the_repair_deadline(client, as_dispatcher):
    order = await create_order(client, as_dispatcher, kind="repair")
    visit = (await client.post(f"/v1/work-orders/{order['id']}/visits", headers=as_dispatcher, json={
        "agreedTime": NOON.isoformat(), "expectedDurationMin": 60,
        "confirmation": {"channel": "phone"}})).json()
    await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=3), initiator="company",
                                                             reasonCode="parts_unavailable"))
    after = (await client.get(f"/v1/work-orders/{order['id']}", headers=as_dispatcher)).json()
    assert after["deadlines"]["resolveDueAt"] == order["deadlines"]["resolveDueAt"]


async def test_b_resched_into_quiet_hours_is_refused(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, NOON)
    response = await reschedule(client, as_dispatcher, visit["id"], move(NOON.replace(hour=21)))
    assert response.status_code == 422
    assert response.json()["code"] == "booking.quiet_hours"


async def test_b_resched_to_a_past_night_time_is_refused_as_past_naming_the_new_time(client, as_dispatcher):
    """Refused as inside the quiet window, it told the dispatcher to pick another time of day (a probe)."""
    visit = await booked_visit(client, as_dispatcher, NOON)
    last_night = NOON.replace(day=3, hour=22)
    response = await reschedule(client, as_dispatcher, visit["id"], move(last_night))

    assert (response.status_code, response.json()["code"]) == (422, "booking.in_past")
    assert response.json()["details"]["newTime"] == last_night.isoformat()


@pytest.mark.parametrize("note", [None, "\u202e"], ids=["no_note", "direction_override_note"])
async def test_b_resched_reason_other_needs_a_note(client, as_dispatcher, note):
    visit = await booked_visit(client, as_dispatcher, NOON)
    moved = move(NOON + timedelta(hours=1), reasonCode="other", **({"note": note} if note else {}))
    response = await reschedule(client, as_dispatcher, visit["id"], moved)
    assert response.status_code == 422
    assert response.json()["code"] == "reschedule.note_required"


async def test_b_resched_unknown_reason_code_is_refused(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, NOON)
    response = await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=1), reasonCode="bored"))
    assert response.status_code == 400


async def test_at_risk_lists_an_unbooked_order_near_its_contact_deadline(client, as_dispatcher, clock):
    accepted = clock.now - timedelta(hours=7)
    order = await create_order(client, as_dispatcher, tier="gold", accepted_at=accepted)
    response = await client.get("/v1/at-risk", params={"horizonMinutes": 120}, headers=as_dispatcher)
    entries = [e for e in response.json() if e["workOrderId"] == order["id"]]
    assert [(e["ruleId"], e["state"], e["minutesLeft"]) for e in entries] == [("B-CONTACT", "due_soon", 60)]


async def test_at_risk_tells_each_deadline_on_its_sites_clock(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher, tier="gold", accepted_at=clock.now - timedelta(hours=7))
    response = await client.get("/v1/at-risk", params={"horizonMinutes": 120}, headers=as_dispatcher)
    [entry] = [e for e in response.json() if e["workOrderId"] == order["id"]]
    assert (entry["siteTimeZone"], entry["siteLocalDueTime"]) == ("Asia/Shanghai", "2030-03-04 10:00")  # 09:00 + 1 h


async def test_at_risk_shows_a_breached_repair_first_response(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher, kind="repair", tier="standard", accepted_at=clock.now - timedelta(hours=3))
    entries = (await client.get("/v1/at-risk", headers=as_dispatcher)).json()
    first = [e for e in entries if e["workOrderId"] == order["id"] and e["ruleId"] == "B-FIRST"]
    assert first[0]["state"] == "breached"


async def test_at_risk_a_repair_first_response_due_this_very_minute_is_not_yet_breached(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher, kind="repair", tier="standard", accepted_at=clock.now - timedelta(hours=2))
    entries = (await client.get("/v1/at-risk", headers=as_dispatcher)).json()
    first = [e for e in entries if e["workOrderId"] == order["id"] and e["ruleId"] == "B-FIRST"]
    assert (first[0]["state"], first[0]["minutesLeft"]) == ("due_soon", 0)  # a booking now passes B-FIRST


async def test_at_risk_names_the_customer_and_a_repair_visit_booked_after_its_deadline(client, as_dispatcher, clock):
    late = clock.now + timedelta(days=3)  # B-REPAIR for a standard repair runs out 48 h after acceptance
    visit = await booked_visit(client, as_dispatcher, late.replace(hour=4), kind="repair", accepted_at=clock.now - timedelta(hours=47))

    entries = (await client.get("/v1/at-risk", params={"horizonMinutes": 120}, headers=as_dispatcher)).json()

    [repair] = [e for e in entries if e["ruleId"] == "B-REPAIR"]
    assert (repair["customerName"], repair["address"], repair["siteTimeZone"]) == ("Li Wei", SHANGHAI_SITE["address"], "Asia/Shanghai")
    assert (repair["visitId"], repair["visitAfterDue"]) == (visit["id"], True)


async def test_at_risk_forgets_contact_once_the_visit_is_booked(client, as_dispatcher, clock):
    await booked_visit(client, as_dispatcher, NOON, tier="gold", accepted_at=clock.now - timedelta(hours=7))
    entries = (await client.get("/v1/at-risk", params={"horizonMinutes": 600}, headers=as_dispatcher)).json()
    assert [e for e in entries if e["ruleId"] == "B-CONTACT"] == []


async def test_at_risk_filters_by_tier(client, as_dispatcher, clock):
    await create_order(client, as_dispatcher, tier="gold", accepted_at=clock.now - timedelta(hours=7))
    entries = (await client.get("/v1/at-risk", params={"tier": "silver", "horizonMinutes": 600}, headers=as_dispatcher)).json()
    assert entries == []


async def test_b_resched_unconfirmed_customer_move_keeps_the_repair_deadline(client, as_dispatcher):
    order = await create_order(client, as_dispatcher, kind="repair")
    visit = (await client.post(f"/v1/work-orders/{order['id']}/visits", headers=as_dispatcher, json={
        "agreedTime": NOON.isoformat(), "expectedDurationMin": 60,
        "confirmation": {"channel": "phone"}})).json()
    await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=3), customerConfirmed=False))
    after = (await client.get(f"/v1/work-orders/{order['id']}", headers=as_dispatcher)).json()
    assert after["deadlines"]["resolveDueAt"] == order["deadlines"]["resolveDueAt"]


async def test_b_resched_a_non_compliant_reschedule_reaches_the_visits_verdict_at_once(client, as_dispatcher, as_auditor):
    visit = await booked_visit(client, as_dispatcher, NOON)
    unconfirmed = move(NOON + timedelta(hours=2), customerConfirmed=False)
    assert (await reschedule(client, as_dispatcher, visit["id"], unconfirmed)).status_code == 200

    evidence = (await client.get(f"/v1/review/visits/{visit['id']}", headers=as_auditor)).json()

    assert "B-RESCHED" in {finding["ruleId"] for finding in evidence["verdict"]["findings"]}


async def test_at_risk_a_bad_horizon_is_refused_naming_the_query_parameter(client, as_dispatcher):
    response = await client.get("/v1/at-risk", params={"horizonMinutes": "soon"}, headers=as_dispatcher)
    assert response.status_code == 400
    assert [(d["field"], d["source"]) for d in response.json()["details"]] == [("horizonMinutes", "query")]


async def test_b_resched_a_customer_reschedule_with_a_company_reason_is_refused_and_keeps_the_deadline(
    client, as_dispatcher
):
    visit = await booked_visit(client, as_dispatcher, NOON, kind="repair")
    order_url = f"/v1/work-orders/{visit['workOrderId']}"
    before = (await client.get(order_url, headers=as_dispatcher)).json()

    response = await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(days=3), reasonCode="technician_unavailable"))

    assert (response.status_code, response.json()["code"]) == (422, "reschedule.initiator_mismatch")
    after = (await client.get(order_url, headers=as_dispatcher)).json()
    assert after["deadlines"]["resolveDueAt"] == before["deadlines"]["resolveDueAt"]


async def test_b_resched_a_visit_left_open_on_a_force_closed_order_cannot_be_moved_or_reassigned(
    client, as_dispatcher, phone, visit_id
):
    phone.clock.now = AGREED + timedelta(minutes=5)  # its time has come: force-close leaves it open for the phone
    order_id = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()["workOrderId"]
    close = {"outcome": "unresolved", "reason": "customer cancelled by phone"}
    assert (await client.post(f"/v1/work-orders/{order_id}/force-close", json=close, headers=as_dispatcher)).status_code == 200

    moved = await reschedule(client, as_dispatcher, visit_id, move(AGREED + timedelta(hours=2)))
    reassigned = await assign(client, as_dispatcher, visit_id, await technician_id(client, as_dispatcher, "T1002"))

    assert [(r.status_code, r.json()["code"]) for r in (moved, reassigned)] == [(409, "work_order.force_closed")] * 2
    visit = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()
    assert datetime.fromisoformat(visit["agreedTime"]) == AGREED


async def test_a_trail_a_visit_moved_twice_has_the_agreed_time_its_trail_leads_to(client, as_dispatcher, app):
    from fieldsvc.trail.records import first_record_mismatch

    visit = await booked_visit(client, as_dispatcher, NOON)
    for hours in (2, 4):
        assert (await reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=hours)))).status_code == 200
    await quiet(app)

    assert await first_record_mismatch(app.state.ctx) == (1, None)


async def test_b_resched_moves_sent_at_once_are_recorded_in_the_order_they_chain(
    client, as_dispatcher, app, clock, monkeypatch
):
    visit = await booked_visit(client, as_dispatcher, NOON)
    ticks = iter(range(1_000_000))  # a clock that moves on at every reading, as a real one does
    monkeypatch.setattr(app.state.ctx, "clock", lambda: clock.now + timedelta(milliseconds=next(ticks)))

    await asyncio.gather(*(
        reschedule(client, as_dispatcher, visit["id"], move(NOON + timedelta(hours=hours))) for hours in (1, 2, 3, 4)
    ))

    body = (await client.get(f"/v1/visits/{visit['id']}", headers=as_dispatcher)).json()
    history = sorted(body["reschedules"], key=lambda r: r["recordedAt"])
    assert [r["oldTime"] for r in history[1:]] == [r["newTime"] for r in history[:-1]]
    assert history[-1]["newTime"] == body["agreedTime"]


async def test_b_assign_a_move_into_the_technicians_other_visit_keeps_the_reason_the_overlap_was_let_stand(
    client, as_dispatcher
):
    """Only the overlap check read it: a double booking made by a move left no reason behind (a probe)."""
    tech = await technician_id(client, as_dispatcher, "T1001")
    first = await booked_visit(client, as_dispatcher, NOON)
    second = await booked_visit(client, as_dispatcher, NOON + timedelta(hours=3))
    for visit in (first, second):
        await assign(client, as_dispatcher, visit["id"], tech)

    response = await reschedule(client, as_dispatcher, second["id"], move(NOON + timedelta(minutes=30),
                                                                         overrideReason="same building, two flats"))

    assert response.status_code == 200, response.text
    assert response.json()["reschedules"][0]["overrideReason"] == "same building, two flats"
