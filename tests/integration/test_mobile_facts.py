"""The phone's facts through HTTP: a whole honest visit, once-only recording, scoping, closed visits, E-CLOCK."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from fieldsvc.tables import FollowUp, Visit, VisitEvent
from tests.integration.builders import assign, technician_id
from tests.integration.mobile_builders import (  # noqa: F401 - phone and visit_id are fixtures
    AGREED,
    AT_SITE,
    Phone,
    assigned_visit,
    camera_exif,
    jpeg,
    phone,
    row_counts,
    trail_entries,
    signature_png,
    visit_id,
)


def json_facts(phone: Phone) -> list[tuple[str, dict]]:
    """One body for every JSON fact endpoint, in the order of an honest visit."""
    return [
        ("on-my-way", phone.fact(etaMinutes=40)),
        ("arrival", phone.fact(location=phone.location())),
        ("steps", phone.fact(step="V-ID")),
        ("steps", phone.fact(step="V-MAT", note="Mat under the router")),
        ("steps", phone.fact(step="V-CONSENT", consentScope="bedroom_or_study")),
        ("notes", phone.fact(topic="general", text="Customer asked to keep the old modem")),
        ("leave", phone.fact(willReturn=True, reason="Fetching a splitter from the van")),
        ("return", phone.fact(location=phone.location())),
        ("test-result", phone.fact(downloadMbps=512.5, uploadMbps=48, latencyMs=9, customerAccepted=True)),
        ("questions", phone.fact(question="Can I get IPTV on a second TV?")),
        ("service-card", phone.fact()),
        ("checkout", phone.fact(location=phone.location())),
    ]


async def test_v_checkin_to_v_checkout_a_whole_honest_visit_online(client, phone, clock, visit_id):
    answers = {}
    for path, body in json_facts(phone)[:2]:
        response = await phone.post(visit_id, path, body)
        assert response.status_code == 201, response.text
        answers[path] = response.json()
        clock.advance(minutes=25)
    assert answers["on-my-way"]["visitStatus"] == "en_route"
    assert answers["arrival"]["visitStatus"] == "on_site"
    assert 15 < answers["arrival"]["distanceM"] < 30
    assert answers["arrival"]["accuracyM"] == 8.0

    shoe_covers = jpeg(1, exif=camera_exif(AGREED - timedelta(minutes=8), AT_SITE["latitude"], AT_SITE["longitude"]))
    photo = await phone.photo(visit_id, "shoe_covers", shoe_covers)
    assert photo.status_code == 201, photo.text
    assert photo.json()["capturedAt"] == "2030-03-04T01:52:00Z"  # EXIF local time read in the site's zone
    for path, body in json_facts(phone)[2:-1]:
        clock.advance(minutes=3)
        response = await phone.post(visit_id, path, body)
        assert response.status_code == 201, (path, response.text)
        answers[path] = response.json()
    assert (await phone.photo(visit_id, "site_clean", jpeg(2))).status_code == 201

    summary = (await client.get(f"/v1/mobile/visits/{visit_id}/summary", headers=phone.auth)).json()
    assert "Customer: Li Wei" in summary["text"] and "staff number T1001" in summary["text"]
    assert "Agreed time: 2030-03-04T10:00:00+08:00" in summary["text"]
    assert summary["digest"] == hashlib.sha256(summary["text"].encode()).hexdigest()
    signed = await phone.upload(
        visit_id, "signature", phone.fact(signerName="Li Wei", summaryDigest=summary["digest"]), signature_png(), "sign.png"
    )
    assert signed.status_code == 201, signed.text
    assert signed.json()["expectedDigest"] == signed.json()["summaryDigest"] == summary["digest"]
    assert 0 < signed.json()["inkCoverage"] < 0.2 and signed.json()["blank"] is False
    checkout = await phone.post(visit_id, "checkout", json_facts(phone)[-1][1])
    assert checkout.status_code == 201

    card = answers["service-card"]["card"]
    assert card == {
        "technicianName": "Tech1",
        "staffNumber": "T1001",
        "technicianPhone": "13800000000",
        "hotline": "10000",
        "leaflet": "Winter care: keep your router ventilated and away from heaters.",
    }
    follow_up = await FollowUp.select().first()
    assert (follow_up["customer_name"], follow_up["customer_phone"]) == ("Li Wei", "13900000000")
    assert follow_up["address"] == "88 Century Ave, Pudong"
    assert follow_up["due_at"] - follow_up["asked_at"] == timedelta(hours=48)
    assert answers["questions"]["followUpId"] == str(follow_up["id"])
    assert await row_counts() | {"trail_entry": 0} == {
        "visit_event": 15,
        "photo": 3,
        "photo_hash_band": 8,  # two photos x four bands; signatures are not indexed
        "photo_match": 0,
        "follow_up": 1,
        "trail_entry": 0,
    }
    assert await trail_entries("kind LIKE 'fact.%'") == 15
    assert (await Visit.select(Visit.status).where(Visit.id == visit_id).first())["status"] == "on_site"


async def test_replaying_every_fact_returns_the_original_answer_and_records_nothing(phone, clock, visit_id):
    sent = [(path, body, await phone.post(visit_id, path, body)) for path, body in json_facts(phone)]
    photo_meta = phone.fact(purpose="tool_mat")
    photo = await phone.upload(visit_id, "photos", photo_meta, jpeg(3))
    assert all(response.status_code == 201 for *_, response in sent) and photo.status_code == 201
    before = await row_counts()

    clock.advance(hours=6)  # an offline phone resends much later, with another clock reading
    for path, body, original in sent:
        replay = await phone.post(visit_id, path, body)
        assert (replay.status_code, replay.headers.get("Idempotent-Replay")) == (200, "true"), path
        assert replay.json() == original.json()
    photo_replay = await phone.upload(visit_id, "photos", photo_meta, jpeg(3))
    assert photo_replay.status_code == 200 and photo_replay.json() == photo.json()
    assert await row_counts() == before


async def test_same_event_id_with_another_body_is_a_conflict(phone, visit_id):
    body = phone.fact(step="V-ID")
    assert (await phone.post(visit_id, "steps", body)).status_code == 201

    changed = await phone.post(visit_id, "steps", {**body, "step": "V-MAT"})
    other_kind = await phone.post(
        visit_id, "notes", {"eventId": body["eventId"], "deviceTime": body["deviceTime"], "topic": "general", "text": "x"}
    )
    photo_meta = phone.fact(purpose="before")
    assert (await phone.upload(visit_id, "photos", photo_meta, jpeg(4))).status_code == 201
    other_bytes = await phone.upload(visit_id, "photos", photo_meta, jpeg(5))

    for response in (changed, other_kind, other_bytes):
        assert response.status_code == 409
        assert response.json()["code"] == "event.conflict"
    assert await VisitEvent.count() == 2


async def test_an_event_id_of_another_technician_is_a_conflict_that_reveals_nothing(
    client, as_dispatcher, as_other_tech, phone, clock, visit_id
):
    body = phone.fact(step="V-ID")
    assert (await phone.post(visit_id, "steps", body)).status_code == 201
    other_visit = await assigned_visit(client, as_dispatcher, staff_number="T1002")

    response = await Phone(client, as_other_tech, clock).post(other_visit, "steps", body)

    assert response.status_code == 409
    assert response.json() == {"code": "event.conflict", "message": response.json()["message"], "details": None}


@pytest.mark.parametrize("path", ["arrival", "questions", "steps"])
async def test_racing_twins_record_one_fact(phone, visit_id, path):
    body = dict(json_facts(phone))[path] if path != "steps" else phone.fact(step="V-ID")

    first, second = await asyncio.gather(phone.post(visit_id, path, body), phone.post(visit_id, path, body))

    assert sorted((first.status_code, second.status_code)) == [200, 201]
    assert first.json() == second.json()
    assert await VisitEvent.count() == 1
    assert await FollowUp.count() == (1 if path == "questions" else 0)


async def test_racing_twins_on_two_visits_claim_the_event_id_once(client, as_dispatcher, phone, visit_id):
    later_visit = await assigned_visit(client, as_dispatcher, agreed_time=AGREED + timedelta(hours=4))
    body = phone.fact(step="V-ID")

    first, second = await asyncio.gather(phone.post(visit_id, "steps", body), phone.post(later_visit, "steps", body))

    assert sorted((first.status_code, second.status_code)) == [201, 409]
    assert await VisitEvent.count() == 1


async def test_racing_photo_twins_record_one_photo(phone, visit_id):
    meta = phone.fact(purpose="tool_mat")

    first, second = await asyncio.gather(
        phone.upload(visit_id, "photos", meta, jpeg(6)), phone.upload(visit_id, "photos", meta, jpeg(6))
    )

    assert sorted((first.status_code, second.status_code)) == [200, 201]
    counts = await row_counts()
    assert (counts["visit_event"], counts["photo"], counts["photo_hash_band"]) == (1, 1, 4)


async def test_another_technicians_visit_is_not_found_on_every_endpoint(client, as_other_tech, clock, visit_id):
    intruder = Phone(client, as_other_tech, clock)
    for path, body in json_facts(intruder):
        response = await intruder.post(visit_id, path, body)
        assert (response.status_code, response.json()["code"]) == (404, "visit.not_found"), path
    for path, meta in (
        ("photos", intruder.fact(purpose="other")),
        ("signature", intruder.fact(signerName="X", summaryDigest="0" * 64)),
    ):
        response = await intruder.upload(visit_id, path, meta, jpeg(7))
        assert (response.status_code, response.json()["code"]) == (404, "visit.not_found"), path
    presign = intruder.fact(purpose="other", byteSize=10, sha256="0" * 64, contentType="image/jpeg")
    assert (await intruder.post(visit_id, "photos/presign", presign)).status_code == 404
    confirm = await intruder.post(visit_id, f"photos/{visit_id}/confirm", {})
    assert (confirm.status_code, confirm.json()["code"]) == (404, "visit.not_found")
    summary = await client.get(f"/v1/mobile/visits/{visit_id}/summary", headers=intruder.auth)
    assert (summary.status_code, summary.json()["code"]) == (404, "visit.not_found")
    assert await row_counts() | {"trail_entry": 0} == dict.fromkeys(
        ("visit_event", "photo", "photo_hash_band", "photo_match", "follow_up", "trail_entry"), 0
    )


async def test_a_cancelled_visit_takes_no_facts_but_replays_its_stored_ones(client, as_dispatcher, phone, visit_id):
    stored = phone.fact(step="V-ID")
    original = await phone.post(visit_id, "steps", stored)
    cancel = await client.post(
        f"/v1/visits/{visit_id}/cancel", json={"reasonCode": "customer_requested", "requestedBy": "customer"}, headers=as_dispatcher
    )
    assert cancel.status_code == 200, cancel.text

    refused = await phone.post(visit_id, "steps", phone.fact(step="V-MAT"))
    replay = await phone.post(visit_id, "steps", stored)

    assert (refused.status_code, refused.json()["code"]) == (409, "visit.closed")
    assert (replay.status_code, replay.json()) == (200, original.json())
    assert await VisitEvent.count() == 1


async def test_a_visit_handed_over_to_another_technician_replays_the_old_phones_facts_and_refuses_new_ones(
    client, as_dispatcher, phone, visit_id
):
    stored = phone.fact(etaMinutes=30)
    original = await phone.post(visit_id, "on-my-way", stored)
    other = await technician_id(client, as_dispatcher, "T1002")
    assert (await assign(client, as_dispatcher, visit_id, other)).status_code == 200

    replay = await phone.post(visit_id, "on-my-way", stored)
    refused = await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))

    assert (replay.status_code, replay.json()) == (200, original.json())
    assert (refused.status_code, refused.json()["code"]) == (409, "visit.reassigned")
    assert "handedOverAt" in refused.json()["details"]
    assert await VisitEvent.count() == 1


async def test_a_visit_handed_over_to_another_technician_shows_the_old_phone_no_summary_saying_why(
    client, as_dispatcher, phone, visit_id
):
    assert (await assign(client, as_dispatcher, visit_id, await technician_id(client, as_dispatcher, "T1002"))).status_code == 200

    refused = await phone.client.get(f"/v1/mobile/visits/{visit_id}/summary", headers=phone.auth)

    assert (refused.status_code, refused.json()["code"]) == (409, "visit.reassigned")


async def test_a_completed_visit_takes_no_facts(phone, visit_id):
    await Visit.update({Visit.status: "completed"}).where(Visit.id == visit_id)

    response = await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))

    assert (response.status_code, response.json()["code"]) == (409, "visit.closed")


async def test_a_returned_visit_takes_facts_and_keeps_its_status(phone, visit_id):
    await Visit.update({Visit.status: "returned"}).where(Visit.id == visit_id)

    response = await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))

    assert (response.status_code, response.json()["visitStatus"]) == (201, "returned")


async def test_e_clock_a_phone_30_minutes_slow_is_corrected_to_the_truth(client, as_tech, clock, visit_id):
    slow = Phone(client, as_tech, clock, skew=-timedelta(minutes=30))

    response = await slow.post(visit_id, "arrival", slow.fact(location=slow.location()))

    answer = response.json()
    assert datetime.fromisoformat(answer["correctedTime"]) == clock.now
    assert (answer["timeSource"], answer["clockOffsetMs"]) == ("offset", 30 * 60 * 1000)
    event = await VisitEvent.select().first()
    assert event["device_time"] == clock.now - timedelta(minutes=30)
    assert (event["corrected_time"], event["server_received_at"]) == (clock.now, clock.now)
    assert (event["clock_offset_ms"], event["time_source"], event["device_elapsed_ms"]) == (1_800_000, "offset", None)


async def test_e_clock_an_offline_fact_is_placed_by_the_monotonic_clock(client, as_tech, clock, visit_id):
    phone = Phone(client, as_tech, clock, skew=timedelta(hours=3), elapsed_ms=7_200_000)
    happened = clock.now
    offline = phone.fact(location=phone.location())
    clock.advance(minutes=40)
    phone.elapsed_ms += 40 * 60 * 1000
    phone.skew = timedelta(0)  # the network fixed the wall clock before the phone synced

    answer = (await phone.post(visit_id, "arrival", offline)).json()

    assert datetime.fromisoformat(answer["correctedTime"]) == happened
    assert answer["timeSource"] == "elapsed"


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "clock.required"), ({"X-Device-Clock": "09:00"}, "clock.invalid"),
     ({"X-Device-Clock": "2030-03-04T09:00:00"}, "clock.invalid"),
     ({"X-Device-Clock": "2030-03-04T09:00:00+08:00", "X-Device-Elapsed-Ms": "-5"}, "clock.invalid"),
     ({"X-Device-Clock": "2030-03-04T09:00:00+08:00", "X-Device-Id": "a spare phone"}, "clock.invalid"),
     ({"X-Device-Clock": "2030-03-04T09:00:00+08:00", "X-Device-Id": "x" * 65}, "clock.invalid"),
     ({"X-Device-Clock": "2030-03-04T09:00:00+08:00", "X-Device-Boot": "-1"}, "clock.invalid"),
     ({"X-Device-Clock": "2030-03-04T09:00:00+08:00", "X-Device-Boot": "seven"}, "clock.invalid")],
)
async def test_e_clock_the_device_clock_header_is_required_and_checked(client, phone, visit_id, headers, code):
    response = await client.post(
        f"/v1/mobile/visits/{visit_id}/steps", json=phone.fact(step="V-ID"), headers={**phone.auth, **headers}
    )

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert await VisitEvent.count() == 0


@pytest.mark.parametrize(
    ("boot", "elapsed_ms"), [(4, 600_000), (3, 600_000 + 25 * 60 * 1000)], ids=["a later boot", "later in this boot"]
)
async def test_e_clock_an_arrival_whose_clocks_contradict_the_send_is_refused_and_not_recorded(
    client, as_tech, clock, visit_id, boot, elapsed_ms
):
    """Only a modified app sends a fact recorded after it was sent: refused, not read by its (set-back) wall clock."""
    phone = Phone(client, as_tech, clock, skew=-timedelta(minutes=25), elapsed_ms=600_000, boot=3)
    forged = {**phone.fact(location=phone.location()), "deviceBoot": boot, "deviceElapsedMs": elapsed_ms}

    response = await phone.post(visit_id, "arrival", forged)

    assert (response.status_code, response.json()["code"]) == (422, "clock.contradictory")
    assert await VisitEvent.count() == 0


@pytest.mark.parametrize(
    ("path", "fields", "status", "code"),
    [
        ("steps", {"step": "V-CONSENT"}, 422, "step.consent_scope_required"),
        ("steps", {"step": "v-id"}, 400, "validation.failed"),
        ("steps", {"step": "V-NOPE"}, 400, "validation.failed"),  # no rule has a phone confirm it
        ("leave", {"willReturn": False, "reason": "Parts on order"}, 422, "leave.restore_by_required"),
        ("leave", {"willReturn": False, "reason": "Parts", "restoreBy": "2030-03-03T18:00:00+08:00"}, 422,
         "leave.restore_by_before_leave"),
        ("leave", {"willReturn": False, "reason": "Parts", "restoreBy": "2999-12-31T23:59:59Z"}, 422,
         "leave.restore_by_too_far"),
        ("leave", {"willReturn": False, "reason": "Parts", "restoreBy": "2030-03-11T09:00:01+08:00"}, 422,
         "leave.restore_by_too_far"),  # the phone's clock reads 2030-03-04 09:00 in Shanghai: 7 days and a second
        ("notes", {"topic": "weather", "text": "x"}, 400, "validation.failed"),
        ("arrival", {"location": {**AT_SITE, "accuracyM": 0, "fixTime": "2030-03-04T01:00:00Z", "mock": False}}, 400,
         "validation.failed"),
        ("test-result", {"downloadMbps": 1, "uploadMbps": 1, "latencyMs": 1}, 400, "validation.failed"),
    ],
)
async def test_invalid_facts_are_refused_and_not_recorded(phone, visit_id, path, fields, status, code):
    response = await phone.post(visit_id, path, phone.fact(**fields))

    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert await VisitEvent.count() == 0


async def test_v_leave_a_restore_by_is_held_to_the_leaves_corrected_time_not_a_phone_clock_a_month_ahead(
    phone, clock, visit_id
):
    phone.skew = timedelta(days=30)
    promised = (clock.now + timedelta(days=36)).isoformat()

    response = await phone.post(visit_id, "leave", phone.fact(willReturn=False, reason="Parts", restoreBy=promised))

    assert (response.status_code, response.json()["code"]) == (422, "leave.restore_by_too_far")
    assert await VisitEvent.count() == 0


async def test_v_leave_a_phone_running_two_hours_fast_may_promise_a_restore_within_the_hour(phone, clock, visit_id):
    phone.skew = timedelta(hours=2)
    promised = (clock.now + timedelta(hours=1)).isoformat()

    response = await phone.post(visit_id, "leave", phone.fact(willReturn=False, reason="Parts", restoreBy=promised))

    assert response.status_code == 201, response.text


async def test_v_leave_a_phone_running_ten_minutes_slow_may_promise_a_restore_in_five_by_its_own_clock(
    phone, clock, visit_id
):
    phone.skew = -timedelta(minutes=10)
    promised = (phone.wall() + timedelta(minutes=5)).isoformat()

    response = await phone.post(visit_id, "leave", phone.fact(willReturn=False, reason="Parts", restoreBy=promised))

    assert response.status_code == 201, response.text


async def test_v_shoes_at_a_rural_site_needs_the_reason_as_its_note(client, as_dispatcher, phone):
    rural = {"address": "Village 7", "latitude": 30.9, "longitude": 121.9, "locality": "rural"}
    visit_id = await assigned_visit(client, as_dispatcher, site=rural)

    without = await phone.post(visit_id, "steps", phone.fact(step="V-SHOES"))
    with_reason = await phone.post(visit_id, "steps", phone.fact(step="V-SHOES", note="Dirt floor, customer declined"))

    assert (without.status_code, without.json()["code"]) == (422, "step.shoe_reason_required")
    assert with_reason.status_code == 201


async def test_v_shoes_at_a_rural_site_a_note_of_a_full_stop_or_one_letter_is_no_reason(client, as_dispatcher, phone):
    rural = {"address": "Village 8", "latitude": 30.9, "longitude": 121.9, "locality": "rural"}
    visit_id = await assigned_visit(client, as_dispatcher, site=rural)

    dot = await phone.post(visit_id, "steps", phone.fact(step="V-SHOES", note="."))
    letter = await phone.post(visit_id, "steps", phone.fact(step="V-SHOES", note="x"))

    assert (dot.status_code, dot.json()["code"]) == (422, "step.shoe_reason_required")
    assert (letter.status_code, letter.json()["code"]) == (422, "step.shoe_reason_required")


async def test_e_clock_the_transit_allowance_comes_from_the_settings(app, phone, visit_id, monkeypatch):
    phone.skew = -timedelta(milliseconds=1500)  # the request reaches the server 1.5 s after the phone read its clock
    arrival = phone.fact(location=phone.location())
    assert (await phone.post(visit_id, "arrival", arrival)).json()["clockOffsetMs"] == 0  # within the default 2 s

    monkeypatch.setattr(app.state.ctx, "settings", replace(app.state.ctx.settings, clock_transit_allowance_seconds=0))
    step = await phone.post(visit_id, "steps", phone.fact(step="V-ID"))

    assert step.json()["clockOffsetMs"] == 1000  # whole seconds: the fraction is taken as the request in flight
