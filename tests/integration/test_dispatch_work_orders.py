"""The list of work orders: what waits for a booking, a customer's orders, open or closed, oldest accepted first."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.integration.builders import book, create_order

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACCEPTED = datetime(2030, 3, 4, 8, 0, tzinfo=SHANGHAI)  # the test clock reads 09:00 that day


async def listed(client, headers, **params) -> tuple[list[str], str]:  # noqa: ANN001
    response = await client.get("/v1/work-orders", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [order["id"] for order in response.json()], response.headers["x-total-count"]


async def test_work_orders_are_listed_oldest_accepted_first_with_their_visits_and_a_total(client, as_dispatcher):
    later = await create_order(client, as_dispatcher, accepted_at=ACCEPTED + timedelta(minutes=30))
    earlier = await create_order(client, as_dispatcher, accepted_at=ACCEPTED)
    assert (await book(client, as_dispatcher, later["id"], ACCEPTED + timedelta(hours=5))).status_code == 201

    first = await client.get("/v1/work-orders", params={"limit": 1}, headers=as_dispatcher)
    second = await client.get("/v1/work-orders", params={"limit": 1, "offset": 1}, headers=as_dispatcher)

    assert [order["id"] for order in (*first.json(), *second.json())] == [earlier["id"], later["id"]]
    assert (second.headers["x-total-count"], len(second.json()[0]["visits"])) == ("2", 1)


async def test_the_orders_waiting_for_a_booking_are_those_without_a_visit_but_cancelled_ones(client, as_dispatcher):
    booked = await create_order(client, as_dispatcher, accepted_at=ACCEPTED)
    waiting = await create_order(client, as_dispatcher, accepted_at=ACCEPTED + timedelta(minutes=10))
    cancelled = await create_order(client, as_dispatcher, accepted_at=ACCEPTED + timedelta(minutes=20))
    await book(client, as_dispatcher, booked["id"], ACCEPTED + timedelta(hours=5))
    visit = (await book(client, as_dispatcher, cancelled["id"], ACCEPTED + timedelta(hours=6))).json()
    cancel = {"reasonCode": "customer_requested", "requestedBy": "customer"}
    assert (await client.post(f"/v1/visits/{visit['id']}/cancel", json=cancel, headers=as_dispatcher)).status_code == 200

    assert await listed(client, as_dispatcher, unbooked="true") == ([waiting["id"], cancelled["id"]], "2")


async def test_a_customers_orders_are_found_by_phone_however_it_is_spaced(client, as_dispatcher):
    theirs = await create_order(client, as_dispatcher, phone="+86 138-0013-8000")
    await create_order(client, as_dispatcher, phone="13900000000")

    assert await listed(client, as_dispatcher, customerPhone="+8613800138000") == ([theirs["id"]], "1")


async def test_closed_orders_are_apart_from_open_ones(client, as_dispatcher):
    closed = await create_order(client, as_dispatcher, accepted_at=ACCEPTED)
    still_open = await create_order(client, as_dispatcher, accepted_at=ACCEPTED + timedelta(minutes=5))
    close = {"reason": "customer withdrew the request", "outcome": "unresolved"}
    forced = await client.post(f"/v1/work-orders/{closed['id']}/force-close", json=close, headers=as_dispatcher)
    assert forced.status_code == 200, forced.text

    assert await listed(client, as_dispatcher, status="open") == ([still_open["id"]], "1")
    assert await listed(client, as_dispatcher, status="closed") == ([closed["id"]], "1")


async def test_a_technician_may_not_list_the_work_orders(client, as_tech):
    response = await client.get("/v1/work-orders", headers=as_tech)

    assert (response.status_code, response.json()["code"]) == (403, "auth.forbidden")
