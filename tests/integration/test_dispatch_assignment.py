"""B-ASSIGN and B-CANCEL: history of hand-overs, overlap with travel time, overrides, the day board."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fieldsvc.tables import Visit
from tests.conftest import login
from tests.integration.builders import SHANGHAI_SITE, assign, booked_visit, technician_id
from tests.integration.interleaving import committing_before_the_next_count

SHANGHAI = ZoneInfo("Asia/Shanghai")
TEN = datetime(2030, 3, 4, 10, 0, tzinfo=SHANGHAI)
# About 20 km from SHANGHAI_SITE: 40 minutes at the default 30 km/h.
FAR_SITE = {**SHANGHAI_SITE, "address": "Far away", "latitude": 31.2304 + 0.18}


async def test_b_assign_records_who_took_it_when_and_who_handed_it_over(client, as_dispatcher, people, clock):
    visit = await booked_visit(client, as_dispatcher, TEN + timedelta(hours=1))
    tech = await technician_id(client, as_dispatcher, "T1001")
    response = await assign(client, as_dispatcher, visit["id"], tech)
    assert response.status_code == 200
    body = response.json()
    assert body["technician"]["staffNumber"] == "T1001"
    assert body["status"] == "assigned"
    assignment = body["assignments"][0]
    assert assignment["technicianId"] == tech
    assert datetime.fromisoformat(assignment["handedOverAt"]) == clock.now
    assert assignment["assignedBy"]


async def test_b_assign_reassignment_keeps_the_previous_technician(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, TEN + timedelta(hours=1))
    first = await technician_id(client, as_dispatcher, "T1001")
    second = await technician_id(client, as_dispatcher, "T1002")
    await assign(client, as_dispatcher, visit["id"], first)
    body = (await assign(client, as_dispatcher, visit["id"], second)).json()
    assert [a["technicianId"] for a in body["assignments"]] == [first, second]
    assert body["assignments"][1]["previousTechnicianId"] == first


async def test_b_assign_refuses_overlapping_visits(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    first = await booked_visit(client, as_dispatcher, TEN)
    second = await booked_visit(client, as_dispatcher, TEN + timedelta(minutes=30))
    assert (await assign(client, as_dispatcher, first["id"], tech)).status_code == 200
    response = await assign(client, as_dispatcher, second["id"], tech)
    assert response.status_code == 409
    assert response.json()["code"] == "assign.overlap"
    assert response.json()["details"]["conflicts"][0]["visitId"] == first["id"]


async def test_b_assign_a_visit_finished_early_frees_the_rest_of_its_slot(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    first = await booked_visit(client, as_dispatcher, TEN)
    second = await booked_visit(client, as_dispatcher, TEN + timedelta(minutes=30))
    assert (await assign(client, as_dispatcher, first["id"], tech)).status_code == 200
    await Visit.update({Visit.status: "completed"}).where(Visit.id == first["id"])  # done in 25 minutes

    assert (await assign(client, as_dispatcher, second["id"], tech)).status_code == 200


async def test_b_assign_back_to_back_at_the_same_site_fits(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    first = await booked_visit(client, as_dispatcher, TEN)
    second = await booked_visit(client, as_dispatcher, TEN + timedelta(minutes=60))
    await assign(client, as_dispatcher, first["id"], tech)
    assert (await assign(client, as_dispatcher, second["id"], tech)).status_code == 200


async def test_b_assign_counts_travel_time_between_sites(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    first = await booked_visit(client, as_dispatcher, TEN)
    too_soon = await booked_visit(client, as_dispatcher, TEN + timedelta(minutes=90), site=FAR_SITE)
    await assign(client, as_dispatcher, first["id"], tech)
    response = await assign(client, as_dispatcher, too_soon["id"], tech)
    assert response.status_code == 409, "60 min visit + ~40 min drive does not fit in 90 min"
    [conflict] = response.json()["details"]["conflicts"]
    assert (round(conflict["travelMinutes"]), conflict["gapMinutes"]) == (40, 30.0)


async def test_b_assign_counts_travel_to_a_site_days_away(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    distant_site = {**SHANGHAI_SITE, "address": "Two days' drive", "latitude": 31.2304 + 13.5}  # ~1,500 km: ~50 h
    first = await booked_visit(client, as_dispatcher, TEN, kind="repair")
    two_days_on = await booked_visit(client, as_dispatcher, TEN + timedelta(hours=47), kind="repair", site=distant_site)
    await assign(client, as_dispatcher, first["id"], tech)
    response = await assign(client, as_dispatcher, two_days_on["id"], tech)
    assert response.status_code == 409, response.text
    [conflict] = response.json()["details"]["conflicts"]
    assert conflict["visitId"] == first["id"] and conflict["travelMinutes"] > 47 * 60


async def test_b_assign_far_site_fits_when_travel_time_allows(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    first = await booked_visit(client, as_dispatcher, TEN)
    later = await booked_visit(client, as_dispatcher, TEN + timedelta(minutes=105), site=FAR_SITE)
    await assign(client, as_dispatcher, first["id"], tech)
    assert (await assign(client, as_dispatcher, later["id"], tech)).status_code == 200


async def test_b_assign_dispatcher_may_override_an_overlap_with_a_reason(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    first = await booked_visit(client, as_dispatcher, TEN)
    second = await booked_visit(client, as_dispatcher, TEN + timedelta(minutes=30))
    await assign(client, as_dispatcher, first["id"], tech)
    response = await assign(client, as_dispatcher, second["id"], tech, overrideReason="same building, two flats")
    assert response.status_code == 200
    assert response.json()["assignments"][0]["overrideReason"] == "same building, two flats"


async def test_b_assign_concurrent_overlapping_assignments_let_only_one_through(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    first = await booked_visit(client, as_dispatcher, TEN)
    second = await booked_visit(client, as_dispatcher, TEN + timedelta(minutes=15))
    responses = await asyncio.gather(
        assign(client, as_dispatcher, first["id"], tech), assign(client, as_dispatcher, second["id"], tech)
    )
    assert sorted(r.status_code for r in responses) == [200, 409]


async def test_unknown_technician_is_404(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, TEN)
    response = await assign(client, as_dispatcher, visit["id"], "00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.json()["code"] == "technician.not_found"


async def test_b_cancel_records_reason_and_requester(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, TEN)
    response = await client.post(
        f"/v1/visits/{visit['id']}/cancel",
        json={"reasonCode": "customer_requested", "requestedBy": "customer", "note": "moved house"},
        headers=as_dispatcher,
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancellation"]["requestedBy"] == "customer"


async def test_b_cancel_records_which_dispatcher_entered_it(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, TEN)
    cancel = {"reasonCode": "customer_requested", "requestedBy": "customer", "note": "moved house"}
    response = await client.post(f"/v1/visits/{visit['id']}/cancel", json=cancel, headers=as_dispatcher)

    me = (await client.get("/v1/auth/me", headers=as_dispatcher)).json()
    assert response.json()["cancellation"]["recordedBy"] == me["userId"]


async def test_b_cancel_without_reason_is_refused(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, TEN)
    response = await client.post(f"/v1/visits/{visit['id']}/cancel", json={"requestedBy": "customer"}, headers=as_dispatcher)
    assert response.status_code == 400


async def test_cancelled_visit_cannot_be_assigned(client, as_dispatcher):
    visit = await booked_visit(client, as_dispatcher, TEN)
    await client.post(
        f"/v1/visits/{visit['id']}/cancel", json={"reasonCode": "duplicate", "requestedBy": "company"}, headers=as_dispatcher
    )
    response = await assign(client, as_dispatcher, visit["id"], await technician_id(client, as_dispatcher, "T1001"))
    assert response.status_code == 409
    assert response.json()["code"] == "visit.not_changeable"


async def test_day_board_lists_the_technicians_visits_in_time_order(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    later = await booked_visit(client, as_dispatcher, TEN + timedelta(hours=3))
    earlier = await booked_visit(client, as_dispatcher, TEN)
    other_day = await booked_visit(client, as_dispatcher, TEN + timedelta(hours=24), kind="repair")
    for visit in (later, earlier, other_day):
        await assign(client, as_dispatcher, visit["id"], tech)
    response = await client.get(f"/v1/technicians/{tech}/day", params={"date": "2030-03-04"}, headers=as_dispatcher)
    assert response.status_code == 200
    assert [v["visitId"] for v in response.json()["visits"]] == [earlier["id"], later["id"]]


async def test_day_board_of_the_next_day_still_shows_a_visit_on_site_since_the_evening_before(
    client, people, as_dispatcher, clock
):
    tech = await technician_id(client, as_dispatcher, "T1001")
    evening = await booked_visit(client, as_dispatcher, TEN + timedelta(hours=9))
    await assign(client, as_dispatcher, evening["id"], tech)
    await Visit.update({Visit.status: "on_site"}).where(Visit.id == evening["id"])  # still there past midnight
    clock.advance(hours=15, minutes=5)  # 00:05 the next day in Shanghai

    board = f"/v1/technicians/{tech}/day"
    response = await client.get(board, params={"date": "2030-03-05"}, headers=await login(client, people.dispatcher))

    assert [v["visitId"] for v in response.json()["visits"]] == [evening["id"]]


async def test_day_board_of_a_day_to_come_does_not_show_a_visit_on_site_now(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    today = await booked_visit(client, as_dispatcher, TEN)
    await assign(client, as_dispatcher, today["id"], tech)
    await Visit.update({Visit.status: "on_site"}).where(Visit.id == today["id"])

    response = await client.get(f"/v1/technicians/{tech}/day", params={"date": "2030-03-05"}, headers=as_dispatcher)

    assert response.json()["visits"] == []


async def test_day_board_of_today_shows_a_visit_on_site_now_that_was_agreed_for_tomorrow(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    tomorrow = await booked_visit(client, as_dispatcher, TEN + timedelta(days=1), kind="repair")
    await assign(client, as_dispatcher, tomorrow["id"], tech)
    await Visit.update({Visit.status: "on_site"}).where(Visit.id == tomorrow["id"])  # begun a day early

    response = await client.get(f"/v1/technicians/{tech}/day", params={"date": "2030-03-04"}, headers=as_dispatcher)

    assert [v["visitId"] for v in response.json()["visits"]] == [tomorrow["id"]]


async def test_day_board_without_a_date_is_today_in_the_zone(client, as_dispatcher, clock):
    tech = await technician_id(client, as_dispatcher, "T1001")
    today = await booked_visit(client, as_dispatcher, TEN)
    await assign(client, as_dispatcher, today["id"], tech)

    response = await client.get(f"/v1/technicians/{tech}/day", headers=as_dispatcher)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["date"], [v["visitId"] for v in body["visits"]]) == ("2030-03-04", [today["id"]])


async def test_day_board_shows_each_visit_on_its_sites_clock_with_the_customers_phone_and_verdict(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    visit = await booked_visit(client, as_dispatcher, TEN)
    await assign(client, as_dispatcher, visit["id"], tech)

    response = await client.get(f"/v1/technicians/{tech}/day", params={"date": "2030-03-04"}, headers=as_dispatcher)

    [entry] = response.json()["visits"]
    shown = {key: entry[key] for key in ("siteTimeZone", "siteLocalDate", "siteLocalTime", "customerPhone", "verdict")}
    assert shown == {"siteTimeZone": "Asia/Shanghai", "siteLocalDate": "2030-03-04", "siteLocalTime": "10:00",
                     "customerPhone": "13900000000", "verdict": "pending"}


async def test_the_board_of_a_day_shows_every_visit_of_that_date_assigned_or_not_in_time_order(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    later = await booked_visit(client, as_dispatcher, TEN + timedelta(hours=4))
    earlier = await booked_visit(client, as_dispatcher, TEN)
    await booked_visit(client, as_dispatcher, TEN + timedelta(days=1), kind="repair")  # the next day
    await assign(client, as_dispatcher, earlier["id"], tech)

    response = await client.get("/v1/visits", params={"date": "2030-03-04"}, headers=as_dispatcher)

    assert (response.status_code, response.headers["x-total-count"]) == (200, "2"), response.text
    shown = [(e["visitId"], e["siteLocalTime"], (e["technician"] or {}).get("staffNumber"), e["reviewState"])
             for e in response.json()]
    assert shown == [(earlier["id"], "10:00", "T1001", "none"), (later["id"], "14:00", None, "none")]


async def test_the_board_of_a_day_lists_the_visits_no_technician_holds_yet(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    held = await booked_visit(client, as_dispatcher, TEN)
    waiting = await booked_visit(client, as_dispatcher, TEN + timedelta(hours=2))
    await assign(client, as_dispatcher, held["id"], tech)

    response = await client.get("/v1/visits", params={"date": "2030-03-04", "unassigned": "true"}, headers=as_dispatcher)

    assert [e["visitId"] for e in response.json()] == [waiting["id"]]


async def test_the_board_of_a_day_filters_by_status_and_pages(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    visits = [await booked_visit(client, as_dispatcher, TEN + timedelta(hours=hour)) for hour in (0, 2, 4)]
    for visit in visits[1:]:
        await assign(client, as_dispatcher, visit["id"], tech)

    second = await client.get("/v1/visits", params={"date": "2030-03-04", "status": "assigned", "limit": 1, "offset": 1},
                              headers=as_dispatcher)

    assert (second.headers["x-total-count"], [e["visitId"] for e in second.json()]) == ("2", [visits[2]["id"]])


async def test_the_board_of_a_day_refuses_an_unknown_status_or_zone(client, as_dispatcher):
    status = await client.get("/v1/visits", params={"status": "lost"}, headers=as_dispatcher)
    zone = await client.get("/v1/visits", params={"tz": "Mars/Olympus"}, headers=as_dispatcher)

    assert (status.status_code, status.json()["code"]) == (400, "validation.failed")
    assert zone.status_code == 422 and zone.json()["code"] == "site.unknown_time_zone", zone.text


async def test_day_board_without_a_zone_tells_the_day_in_the_zone_of_the_technicians_sites(client, as_dispatcher, as_tech):
    la_site = {"address": "1 Main St", "latitude": 34.05, "longitude": -118.24, "locality": "urban",
               "timeZone": "America/Los_Angeles"}
    ten_in_la = datetime(2030, 3, 4, 10, 0, tzinfo=ZoneInfo("America/Los_Angeles"))  # 3/5 02:00 in Shanghai
    tech = await technician_id(client, as_dispatcher, "T1001")
    visit = await booked_visit(client, as_dispatcher, ten_in_la, site=la_site)
    await assign(client, as_dispatcher, visit["id"], tech)

    board = (await client.get(f"/v1/technicians/{tech}/day", params={"date": "2030-03-04"}, headers=as_dispatcher)).json()
    mine = (await client.get("/v1/mobile/visits", params={"date": "2030-03-04"}, headers=as_tech)).json()

    assert (board["timeZone"], [v["visitId"] for v in board["visits"]]) == ("America/Los_Angeles", [visit["id"]])
    assert [v["id"] for v in mine] == [visit["id"]]


async def test_day_board_without_a_zone_leaves_a_cancelled_visit_out_of_choosing_it(client, as_dispatcher):
    la_site = {"address": "1 Main St", "latitude": 34.05, "longitude": -118.24, "locality": "urban",
               "timeZone": "America/Los_Angeles"}
    tech = await technician_id(client, as_dispatcher, "T1001")
    cancelled = await booked_visit(client, as_dispatcher, TEN, site=la_site)
    assert (await assign(client, as_dispatcher, cancelled["id"], tech)).status_code == 200
    cancel = {"reasonCode": "duplicate", "requestedBy": "company"}
    assert (await client.post(f"/v1/visits/{cancelled['id']}/cancel", json=cancel, headers=as_dispatcher)).status_code == 200
    live = await booked_visit(client, as_dispatcher, TEN + timedelta(hours=3))
    assert (await assign(client, as_dispatcher, live["id"], tech)).status_code == 200

    board = (await client.get(f"/v1/technicians/{tech}/day", headers=as_dispatcher)).json()

    assert (board["timeZone"], [v["visitId"] for v in board["visits"]]) == ("Asia/Shanghai", [live["id"]])


async def test_day_board_with_a_bad_date_is_400(client, as_dispatcher):
    tech = await technician_id(client, as_dispatcher, "T1001")
    response = await client.get(f"/v1/technicians/{tech}/day", params={"date": "tomorrow"}, headers=as_dispatcher)
    assert response.status_code == 400


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Asia", "x" * 256, ""])
async def test_day_board_in_an_unknown_zone_is_422(client, as_dispatcher, zone):
    tech = await technician_id(client, as_dispatcher, "T1001")
    response = await client.get(f"/v1/technicians/{tech}/day", params={"tz": zone}, headers=as_dispatcher)
    assert (response.status_code, response.json()["code"]) == (422, "site.unknown_time_zone")


async def test_b_assign_two_of_a_technicians_visits_moved_into_one_slot_at_once_are_not_both_taken(
    client, as_dispatcher
):
    tech = await technician_id(client, as_dispatcher, "T1001")
    morning = await booked_visit(client, as_dispatcher, TEN)
    afternoon = await booked_visit(client, as_dispatcher, TEN + timedelta(hours=5))
    for visit in (morning, afternoon):
        assert (await assign(client, as_dispatcher, visit["id"], tech)).status_code == 200
    slot = {"newTime": (TEN + timedelta(hours=2)).isoformat(), "initiator": "company", "reasonCode": "weather",
            "customerConfirmed": True}

    moved = await asyncio.gather(*(
        client.post(f"/v1/visits/{visit['id']}/reschedule", json=slot, headers=as_dispatcher)
        for visit in (morning, afternoon)
    ))

    assert sorted(answer.status_code for answer in moved) == [200, 409]


async def test_the_board_of_a_day_counts_the_visits_of_the_moment_its_page_was_read(client, as_dispatcher, monkeypatch):
    shown = await booked_visit(client, as_dispatcher, TEN)
    committing_before_the_next_count(monkeypatch, lambda: booked_visit(client, as_dispatcher, TEN + timedelta(hours=2)))

    during = await client.get("/v1/visits", params={"date": "2030-03-04"}, headers=as_dispatcher)
    after = await client.get("/v1/visits", params={"date": "2030-03-04"}, headers=as_dispatcher)

    assert ([e["visitId"] for e in during.json()], during.headers["x-total-count"]) == ([shown["id"]], "1")
    assert after.headers["x-total-count"] == "2"  # the visit booked meanwhile, on the next read
