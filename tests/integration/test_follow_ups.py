"""V-ASK follow-ups through HTTP: the office sees the questions recorded on site and answers each one once."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from fieldsvc.tables import FollowUp
from fieldsvc.verdicts.sweep import mark_overdue
from tests.conftest import login
from tests.integration.mobile_builders import Phone, phone, visit_id  # noqa: F401 - phone and visit_id are fixtures

QUESTION = "Can I get IPTV on a second TV?"


async def ask(phone: Phone, visit_id: str) -> str:
    assert (await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))).status_code == 201
    asked = await phone.post(visit_id, "questions", phone.fact(question=QUESTION))
    assert asked.status_code == 201, asked.text
    return asked.json()["followUpId"]


async def resolve(client, headers: dict[str, str], follow_up_id: str, resolution: str = "IPTV ordered for the bedroom"):  # noqa: ANN001, ANN201
    return await client.post(f"/v1/follow-ups/{follow_up_id}/resolve", json={"resolution": resolution}, headers=headers)


async def v_ask_codes(client, auditor: dict[str, str], visit_id: str) -> set[str]:  # noqa: ANN001
    body = (await client.get(f"/v1/review/visits/{visit_id}", headers=auditor)).json()
    return {f["code"] for f in body["verdict"]["findings"] if f["ruleId"] == "V-ASK"}


async def test_v_ask_a_question_asked_on_site_is_listed_for_the_office_with_the_customers_details(
    client, phone, visit_id, as_dispatcher
):
    follow_up_id = await ask(phone, visit_id)

    listed = (await client.get("/v1/follow-ups", headers=as_dispatcher)).json()

    assert [(f["id"], f["visitId"], f["question"], f["overdue"]) for f in listed] == [
        (follow_up_id, visit_id, QUESTION, False)
    ]
    assert (listed[0]["customerName"], listed[0]["customerPhone"]) == ("Li Wei", "13900000000")


async def test_v_ask_an_unanswered_question_is_listed_as_overdue_after_48_hours(client, phone, visit_id, people, clock):
    follow_up_id = await ask(phone, visit_id)
    clock.advance(hours=48, minutes=1)
    dispatcher = await login(client, people.dispatcher)

    overdue = (await client.get("/v1/follow-ups", params={"state": "overdue"}, headers=dispatcher)).json()

    assert [(f["id"], f["overdue"]) for f in overdue] == [(follow_up_id, True)]


async def test_v_ask_a_follow_up_within_48_hours_leaves_no_finding_once_the_deadline_passes(
    client, phone, visit_id, people, clock, app
):
    follow_up_id = await ask(phone, visit_id)
    clock.advance(hours=47)
    assert (await resolve(client, await login(client, people.dispatcher), follow_up_id)).status_code == 200

    clock.advance(days=2)
    assert await mark_overdue(app.state.ctx.policies, clock()) == 0
    later = Phone(client, await login(client, people.tech), clock)  # a fresh token: days have passed
    note = later.fact(topic="general", text="Customer confirmed the IPTV order")  # any fact re-audits the visit
    assert (await later.post(visit_id, "notes", note)).status_code == 201
    assert await v_ask_codes(client, await login(client, people.auditor), visit_id) == set()


async def test_v_ask_a_follow_up_after_48_hours_is_late(client, phone, visit_id, people, clock):
    follow_up_id = await ask(phone, visit_id)
    clock.advance(hours=49)
    dispatcher, auditor = await login(client, people.dispatcher), await login(client, people.auditor)

    answered = await resolve(client, dispatcher, follow_up_id)

    assert answered.status_code == 200, answered.text
    assert answered.json()["resolvedAt"] is not None and answered.json()["overdue"] is False
    assert await v_ask_codes(client, auditor, visit_id) == {"v.ask.late"}


async def test_v_ask_a_follow_up_is_resolved_once_and_keeps_its_first_answer(client, phone, visit_id, as_dispatcher):
    follow_up_id = await ask(phone, visit_id)
    assert (await resolve(client, as_dispatcher, follow_up_id, "Told the customer IPTV needs a second box")).status_code == 200

    again = await resolve(client, as_dispatcher, follow_up_id, "Something else")

    assert (again.status_code, again.json()["code"]) == (409, "follow_up.already_resolved")
    listed = (await client.get("/v1/follow-ups", params={"state": "resolved"}, headers=as_dispatcher)).json()
    assert [f["resolution"] for f in listed] == ["Told the customer IPTV needs a second box"]


@pytest.mark.parametrize(
    "answer", ["", "   ", "\u200b", "\u00a0"], ids=["empty", "spaces", "zero-width-space", "no-break-space"]
)
async def test_v_ask_a_blank_answer_is_refused_and_the_question_stays_open(
    client, phone, visit_id, as_dispatcher, answer
):
    follow_up_id = await ask(phone, visit_id)

    blank = await resolve(client, as_dispatcher, follow_up_id, answer)

    assert (blank.status_code, blank.json()["code"]) == (422, "follow_up.resolution_required")
    assert [f["id"] for f in (await client.get("/v1/follow-ups", headers=as_dispatcher)).json()] == [follow_up_id]


async def test_v_ask_a_blank_question_is_refused_and_nothing_recorded(phone, visit_id):
    response = await phone.post(visit_id, "questions", phone.fact(question=" \u200b "))

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed")
    assert await FollowUp.count() == 0


async def test_v_ask_an_unknown_follow_up_is_not_found(client, as_dispatcher):
    unknown = await resolve(client, as_dispatcher, str(uuid.uuid4()))

    assert (unknown.status_code, unknown.json()["code"]) == (404, "follow_up.not_found")


async def test_v_ask_an_unknown_state_is_refused_naming_the_state_parameter(client, as_dispatcher):
    response = await client.get("/v1/follow-ups", params={"state": "bogus"}, headers=as_dispatcher)

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed")
    assert [(d["field"], d["source"]) for d in response.json()["details"]] == [("state", "query")]


async def test_a_trail_an_answered_question_matches_the_trail(client, phone, visit_id, as_dispatcher, app):
    from fieldsvc.trail.records import first_record_mismatch
    from tests.conftest import quiet

    assert (await resolve(client, as_dispatcher, await ask(phone, visit_id))).status_code == 200
    await quiet(app)

    assert await first_record_mismatch(app.state.ctx) == (1, None)


async def answer_dated_back_a_day(follow_up_id: str) -> None:
    row = await FollowUp.select(FollowUp.resolved_at).where(FollowUp.id == follow_up_id).first()
    await FollowUp.update({FollowUp.resolved_at: row["resolved_at"] - timedelta(days=1)}).where(
        FollowUp.id == follow_up_id
    )


async def answer_reworded(follow_up_id: str) -> None:
    await FollowUp.update({FollowUp.resolution: "Customer declined"}).where(FollowUp.id == follow_up_id)


async def asked_a_day_later(follow_up_id: str) -> None:
    row = await FollowUp.select(FollowUp.asked_at).where(FollowUp.id == follow_up_id).first()
    await FollowUp.update({FollowUp.asked_at: row["asked_at"] + timedelta(days=1)}).where(FollowUp.id == follow_up_id)


@pytest.mark.parametrize("edit", [answer_dated_back_a_day, answer_reworded, asked_a_day_later])
async def test_a_trail_an_answer_edited_behind_the_services_back_is_named(
    client, phone, visit_id, as_dispatcher, app, edit
):
    from fieldsvc.trail.records import first_record_mismatch
    from tests.conftest import quiet

    follow_up_id = await ask(phone, visit_id)
    assert (await resolve(client, as_dispatcher, follow_up_id)).status_code == 200
    await quiet(app)
    await edit(follow_up_id)

    _, mismatch = await first_record_mismatch(app.state.ctx)
    assert (mismatch.table, mismatch.row_id) == ("follow_up", follow_up_id)


@pytest.mark.parametrize("column", ["customer_name", "customer_phone", "address"])
async def test_a_trail_a_follow_ups_customer_contact_blanked_behind_the_services_back_is_named(
    phone, visit_id, app, column
):
    """V-ASK reads the contact the follow-up copied: blanking it flagged the visit (v.ask.incomplete), filling in one
    the order lacked would clear it."""
    from fieldsvc.trail.records import first_record_mismatch
    from tests.conftest import quiet

    follow_up_id = await ask(phone, visit_id)
    await quiet(app)
    await FollowUp.update({getattr(FollowUp, column): ""}, force=True)

    _, mismatch = await first_record_mismatch(app.state.ctx)
    assert (mismatch.table, mismatch.row_id) == ("follow_up", follow_up_id)
    assert "customer contact" in mismatch.reason


async def test_a_trail_an_open_question_marked_answered_behind_the_services_back_is_named(phone, visit_id, app):
    from fieldsvc.trail.records import first_record_mismatch
    from tests.conftest import quiet

    follow_up_id = await ask(phone, visit_id)
    await quiet(app)
    await FollowUp.update({FollowUp.resolved_at: FollowUp.asked_at, FollowUp.resolution: "called"}, force=True)

    _, mismatch = await first_record_mismatch(app.state.ctx)
    assert (mismatch.table, mismatch.row_id) == ("follow_up", follow_up_id)


async def test_a_trail_a_questions_deleted_follow_up_is_named(phone, visit_id, app):
    from fieldsvc.trail.records import first_record_mismatch
    from tests.conftest import quiet

    await ask(phone, visit_id)
    await quiet(app)
    await FollowUp.delete(force=True)

    _, mismatch = await first_record_mismatch(app.state.ctx)
    assert (mismatch.table, "follow-up is gone" in mismatch.reason) == ("visit_event", True)
