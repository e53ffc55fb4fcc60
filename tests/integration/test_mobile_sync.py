"""The offline sync batch: facts in order, each in its own transaction, a receipt for every one."""

from __future__ import annotations

from datetime import timedelta

from fieldsvc.tables import VisitEvent
from tests.integration.mobile_builders import Phone, assigned_visit, phone, visit_id  # noqa: F401 - fixtures


async def sync(phone: Phone, facts: list[dict]):
    return await phone.client.post("/v1/mobile/sync", json={"facts": facts}, headers=phone.headers())


async def test_a_mixed_batch_gets_a_receipt_per_fact_and_stores_only_the_good_ones(
    client, as_dispatcher, phone, clock, visit_id
):
    others_visit = await assigned_visit(client, as_dispatcher, staff_number="T1002")
    on_my_way = phone.fact(etaMinutes=30)
    arrival = phone.fact(location=phone.location())
    no_location = phone.fact()
    consent_without_scope = phone.fact(step="V-CONSENT")
    clock.advance(minutes=5)
    facts = [
        {"type": "on_my_way", "visitId": visit_id, "body": on_my_way},
        {"type": "arrival", "visitId": visit_id, "body": arrival},
        {"type": "arrival", "visitId": visit_id, "body": no_location},
        {"type": "step", "visitId": visit_id, "body": consent_without_scope},
        {"type": "step", "visitId": others_visit, "body": phone.fact(step="V-ID")},
        {"type": "on_my_way", "visitId": visit_id, "body": on_my_way},
        {"type": "note", "visitId": visit_id, "body": {**arrival, "location": None, "topic": "general", "text": "x"}},
        {"type": "note", "visitId": visit_id, "body": {"deviceTime": "2030-03-04T01:00:00Z", "topic": "general"}},
        {"type": "question", "visitId": visit_id, "body": phone.fact(question="Is fibre faster at night?")},
    ]

    response = await sync(phone, facts)

    assert response.status_code == 200, response.text
    receipts = response.json()["receipts"]
    assert [(r["index"], r["status"], r["code"]) for r in receipts] == [
        (0, "accepted", None),
        (1, "accepted", None),
        (2, "rejected", "validation.failed"),
        (3, "rejected", "step.consent_scope_required"),
        (4, "rejected", "visit.not_found"),
        (5, "duplicate", None),
        (6, "rejected", "validation.failed"),
        (7, "rejected", "validation.failed"),
        (8, "accepted", None),
    ]
    assert [r["eventId"] for r in receipts[:3]] == [on_my_way["eventId"], arrival["eventId"], no_location["eventId"]]
    assert receipts[7]["eventId"] is None
    assert "location" in receipts[2]["message"]
    assert receipts[5]["result"] == receipts[0]["result"]
    assert receipts[1]["result"]["visitStatus"] == "on_site"
    assert await VisitEvent.count() == 3


async def test_a_batch_item_that_is_no_fact_is_rejected_in_its_own_receipt_and_the_rest_applied(phone, visit_id):
    note = phone.fact(topic="general", text="on site")
    question = phone.fact(question="Is fibre faster at night?")
    facts = [
        {"type": "note", "visitId": visit_id, "body": note},
        {"type": "selfie", "visitId": visit_id, "body": phone.fact()},
        {"type": "note", "visitId": "not-a-uuid", "body": phone.fact(topic="general", text="x")},
        {"type": "note", "visitId": visit_id, "body": ["not", "an", "object"]},
        {"type": "note", "body": phone.fact(topic="general", text="x")},
        {"type": "note", "visitId": visit_id, "body": phone.fact(topic="general", text="x"), "extra": 1},
        "not an object",
        None,
        {"type": "question", "visitId": visit_id, "body": question},
    ]

    response = await sync(phone, facts)

    assert response.status_code == 200, response.text
    receipts = response.json()["receipts"]
    assert [r["status"] for r in receipts] == ["accepted", *["rejected"] * 7, "accepted"]
    assert {r["code"] for r in receipts[1:8]} == {"validation.failed"}
    assert (receipts[1]["eventId"], receipts[3]["eventId"]) == (facts[1]["body"]["eventId"], None)
    assert await VisitEvent.count() == 2


async def test_a_batch_item_nesting_json_too_deep_is_rejected_in_its_own_receipt_and_the_rest_applied(phone, visit_id):
    deep: list = []
    for _ in range(800):
        deep = [deep]
    facts = [
        {"type": "note", "visitId": visit_id, "body": phone.fact(topic="general", text="on site")},
        {"type": "note", "visitId": visit_id, "body": {**phone.fact(topic="general", text="x"), "junk": deep}},
    ]

    response = await sync(phone, facts)

    assert response.status_code == 200, response.text
    assert [(r["status"], r.get("code")) for r in response.json()["receipts"]] == [
        ("accepted", None), ("rejected", "validation.failed")
    ]
    assert await VisitEvent.count() == 1


async def test_offline_facts_are_corrected_by_the_clock_reading_of_the_sync(client, as_tech, clock, visit_id):
    slow = Phone(client, as_tech, clock, skew=-timedelta(minutes=30))
    happened = clock.now
    arrival = slow.fact(location=slow.location())
    clock.advance(hours=2)

    receipt = (await sync(slow, [{"type": "arrival", "visitId": visit_id, "body": arrival}])).json()["receipts"][0]

    assert receipt["result"]["correctedTime"] == happened.isoformat().replace("+00:00", "Z")
    assert receipt["result"]["clockOffsetMs"] == 30 * 60 * 1000


async def test_a_fact_sent_alone_and_again_in_a_batch_is_a_duplicate_with_its_first_answer(phone, visit_id):
    body = phone.fact(step="V-ID")
    alone = await phone.post(visit_id, "steps", body)

    receipt = (await sync(phone, [{"type": "step", "visitId": visit_id, "body": body}])).json()["receipts"][0]

    assert (receipt["status"], receipt["result"]) == ("duplicate", alone.json())


async def test_a_batch_must_hold_1_to_500_facts_and_a_clock_reading(client, phone, visit_id):
    fact = {"type": "step", "visitId": visit_id, "body": phone.fact(step="V-ID")}

    too_many = await sync(phone, [fact] * 501)
    empty = await sync(phone, [])
    no_clock = await client.post("/v1/mobile/sync", json={"facts": [fact]}, headers=phone.auth)

    assert (too_many.status_code, too_many.json()["code"]) == (400, "validation.failed")
    assert (empty.status_code, empty.json()["code"]) == (400, "validation.failed")
    assert (no_clock.status_code, no_clock.json()["code"]) == (400, "clock.required")
    assert await VisitEvent.count() == 0


async def test_the_sync_is_for_technicians_only(client, as_dispatcher, phone, visit_id):
    fact = {"type": "step", "visitId": visit_id, "body": phone.fact(step="V-ID")}

    response = await client.post("/v1/mobile/sync", json={"facts": [fact]}, headers={**phone.headers(), **as_dispatcher})

    assert (response.status_code, response.json()["code"]) == (403, "auth.forbidden")


async def test_every_code_a_rejected_receipt_carries_is_named_in_the_spec(client, phone, visit_id):
    facts = [
        {"type": "step", "visitId": visit_id, "body": phone.fact(step="V-CONSENT")},
        {"type": "leave", "visitId": visit_id, "body": phone.fact(willReturn=False, reason="Parts")},
        {"type": "completion", "visitId": visit_id, "body": phone.fact(outcome="unresolved")},
        {"type": "completion", "visitId": visit_id, "body": phone.fact(outcome="resolved", customerAbsent=True)},
        {"type": "completion", "visitId": visit_id, "body": phone.fact(outcome="resolved")},
        {"type": "arrival", "visitId": visit_id, "body": phone.fact()},
        {"type": "note", "visitId": visit_id, "body": phone.fact(topic="general", text="x", deviceBoot=2)},
    ]
    phone.boot, phone.elapsed_ms = 1, 60_000
    spec = (await client.get("/schema/openapi.json")).json()

    receipts = (await sync(phone, facts)).json()["receipts"]

    codes = {receipt["code"] for receipt in receipts}
    assert codes == {
        "step.consent_scope_required", "leave.restore_by_required", "complete.reason_required",
        "complete.absent_resolved", "visit.incomplete", "validation.failed", "clock.contradictory",
    }
    described = spec["paths"]["/v1/mobile/sync"]["post"]["description"]
    assert all(f"`{code}`" in described for code in codes)
