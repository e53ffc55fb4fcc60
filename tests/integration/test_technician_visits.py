"""The technician sees their own day and visits, with what the policy requires, and nothing of others'."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from tests.conftest import login
from tests.integration.builders import assign, booked_visit, technician_id
from tests.integration.mobile_builders import AT_SITE

TEN = datetime(2030, 3, 4, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


async def assigned_visit(client, as_dispatcher, staff_number: str) -> dict:
    visit = await booked_visit(client, as_dispatcher, TEN)
    await assign(client, as_dispatcher, visit["id"], await technician_id(client, as_dispatcher, staff_number))
    return visit


async def test_my_day_lists_my_visit_with_customer_contact_and_required_items(client, as_dispatcher, as_tech):
    visit = await assigned_visit(client, as_dispatcher, "T1001")
    response = await client.get("/v1/mobile/visits", params={"date": "2030-03-04"}, headers=as_tech)
    assert response.status_code == 200
    [mine] = response.json()
    assert mine["id"] == visit["id"]
    assert mine["customer"]["phone"] == "13900000000"
    assert "V-SHOES" in mine["requiredItems"]
    assert mine["policy"]["id"] == "install.urban"


async def test_my_day_tells_how_long_to_wait_for_a_customer_not_at_home(client, as_dispatcher, as_tech):
    await assigned_visit(client, as_dispatcher, "T1001")

    [mine] = (await client.get("/v1/mobile/visits", params={"date": "2030-03-04"}, headers=as_tech)).json()

    assert mine["customerAbsentWaitMin"] == 10.0


async def test_my_day_does_not_show_another_technicians_visit(client, as_dispatcher, as_other_tech):
    await assigned_visit(client, as_dispatcher, "T1001")
    response = await client.get("/v1/mobile/visits", params={"date": "2030-03-04"}, headers=as_other_tech)
    assert response.json() == []


async def test_another_technicians_visit_is_not_found(client, as_dispatcher, as_other_tech):
    visit = await assigned_visit(client, as_dispatcher, "T1001")
    response = await client.get(f"/v1/mobile/visits/{visit['id']}", headers=as_other_tech)
    assert response.status_code == 404
    assert "13900000000" not in response.text


async def test_my_visit_detail(client, as_dispatcher, as_tech):
    visit = await assigned_visit(client, as_dispatcher, "T1001")
    response = await client.get(f"/v1/mobile/visits/{visit['id']}", headers=as_tech)
    assert response.status_code == 200
    assert response.json()["site"]["timeZone"] == "Asia/Shanghai"


async def test_technician_cannot_use_the_dispatcher_visit_view(client, as_dispatcher, as_tech):
    visit = await assigned_visit(client, as_dispatcher, "T1001")
    assert (await client.get(f"/v1/visits/{visit['id']}", headers=as_tech)).status_code == 403


async def test_dispatcher_cannot_use_the_technician_api(client, as_dispatcher):
    response = await client.get("/v1/mobile/visits", params={"date": "2030-03-04"}, headers=as_dispatcher)
    assert response.status_code == 403


async def test_my_day_without_a_date_is_today_in_the_default_zone(client, people, as_dispatcher, as_tech, clock):
    visit = await assigned_visit(client, as_dispatcher, "T1001")  # 10:00 today in Shanghai; the clock says 09:00
    today = await client.get("/v1/mobile/visits", headers=as_tech)
    assert [mine["id"] for mine in today.json()] == [visit["id"]]

    clock.advance(hours=15)  # 00:00 the next day in Shanghai, still 2030-03-04 in UTC
    tomorrow = await client.get("/v1/mobile/visits", headers=await login(client, people.tech))
    assert tomorrow.json() == []


async def test_my_day_after_midnight_still_lists_the_visit_i_am_on_site_at_since_the_evening(
    client, people, as_dispatcher, as_tech, clock
):
    visit = await assigned_visit(client, as_dispatcher, "T1001")
    clock.now = TEN
    arrival = {"eventId": str(uuid4()), "deviceTime": TEN.isoformat(),
               "location": {**AT_SITE, "accuracyM": 8.0, "fixTime": TEN.isoformat(), "mock": False}}
    headers = {**as_tech, "X-Device-Clock": TEN.isoformat()}
    assert (await client.post(f"/v1/mobile/visits/{visit['id']}/arrival", json=arrival, headers=headers)).status_code == 201

    clock.advance(hours=14, minutes=5)  # 00:05 the next day, still on site
    next_day = await client.get("/v1/mobile/visits", headers=await login(client, people.tech))

    assert [mine["id"] for mine in next_day.json()] == [visit["id"]]


async def test_my_day_lists_the_visit_i_am_on_site_at_though_it_was_agreed_for_tomorrow(client, as_dispatcher, as_tech):
    tomorrow = await booked_visit(client, as_dispatcher, TEN + timedelta(days=1), kind="repair")
    await assign(client, as_dispatcher, tomorrow["id"], await technician_id(client, as_dispatcher, "T1001"))
    now = datetime(2030, 3, 4, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the frozen clock: the customer let me in early
    arrival = {"eventId": str(uuid4()), "deviceTime": now.isoformat(),
               "location": {**AT_SITE, "accuracyM": 8.0, "fixTime": now.isoformat(), "mock": False}}
    headers = {**as_tech, "X-Device-Clock": now.isoformat()}
    assert (await client.post(f"/v1/mobile/visits/{tomorrow['id']}/arrival", json=arrival, headers=headers)).status_code == 201

    today = await client.get("/v1/mobile/visits", params={"date": "2030-03-04"}, headers=as_tech)

    assert [mine["id"] for mine in today.json()] == [tomorrow["id"]]
