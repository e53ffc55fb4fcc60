"""A-TRAIL: a work order's dispatch records (what the audit and the deadlines read besides the phone's facts) edited
behind the service's back are named by `trail verify`'s record check."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from fieldsvc.tables import Assignment, Cancellation, ContactLog, Customer, Reschedule, Site, Visit, WorkOrder
from fieldsvc.trail.dispatch_records import first_order_mismatch
from tests.conftest import quiet
from tests.integration.builders import assign, book, create_order, technician_id

NOON = datetime(2030, 3, 4, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the frozen clock is 09:00 Shanghai


async def worked_order(client, headers) -> dict:  # noqa: ANN001
    """A repair whose customer was called, whose first visit was handed to T1001, moved by the customer and then
    cancelled, and whose second visit is booked and handed over: every kind of dispatch record."""
    order = await create_order(client, headers, kind="repair")
    assert (await client.post(f"/v1/work-orders/{order['id']}/contacts", json={"channel": "phone"},
                              headers=headers)).status_code == 201
    tech = await technician_id(client, headers, "T1001")
    first = (await book(client, headers, order["id"], NOON)).json()
    assert (await assign(client, headers, first["id"], tech)).status_code == 200
    move = {"newTime": (NOON + timedelta(hours=2)).isoformat(), "initiator": "customer",
            "reasonCode": "customer_requested", "customerConfirmed": True}
    assert (await client.post(f"/v1/visits/{first['id']}/reschedule", json=move, headers=headers)).status_code == 200
    cancel = {"reasonCode": "customer_requested", "requestedBy": "customer", "note": "away today"}
    assert (await client.post(f"/v1/visits/{first['id']}/cancel", json=cancel, headers=headers)).status_code == 200
    second = (await book(client, headers, order["id"], NOON + timedelta(days=1))).json()
    assert (await assign(client, headers, second["id"], tech)).status_code == 200
    other_tech = await technician_id(client, headers, "T1002")
    return {**order, "first": first["id"], "second": second["id"], "other_tech": other_tech}


Edit = Callable[[dict], Awaitable[str]]  # edits the order's records behind the service's back; the table it names


async def site_moved_2_km_north(order: dict) -> str:
    site = await WorkOrder.select(WorkOrder.site.id, WorkOrder.site.latitude).where(WorkOrder.id == order["id"]).first()
    await Site.update({Site.latitude: site["site.latitude"] + 0.018}).where(Site.id == site["site.id"])
    return "site"


async def site_made_rural(order: dict) -> str:
    site = await WorkOrder.select(WorkOrder.site).where(WorkOrder.id == order["id"]).first()
    await Site.update({Site.locality: "rural"}).where(Site.id == site["site"])
    return "site"


async def customer_made_diamond(order: dict) -> str:
    await Customer.update({Customer.tier: "diamond"}, force=True)
    return "customer"


async def order_accepted_an_hour_later(order: dict) -> str:
    accepted = datetime.fromisoformat(order["acceptedAt"]) + timedelta(hours=1)
    await WorkOrder.update({WorkOrder.accepted_at: accepted}).where(WorkOrder.id == order["id"])
    return "work_order"


async def repair_due_a_day_later(order: dict) -> str:
    row = await WorkOrder.select(WorkOrder.resolve_due_at).where(WorkOrder.id == order["id"]).first()
    await WorkOrder.update({WorkOrder.resolve_due_at: row["resolve_due_at"] + timedelta(days=1)}).where(
        WorkOrder.id == order["id"]
    )
    return "work_order"


async def visit_given_to_another_technician(order: dict) -> str:
    await Visit.update({Visit.technician: order["other_tech"]}).where(Visit.id == order["second"])
    return "visit"


async def visit_uncancelled(order: dict) -> str:
    await Visit.update({Visit.status: "assigned"}).where(Visit.id == order["first"])
    return "visit"


async def move_deleted(order: dict) -> str:
    await Reschedule.delete(force=True)
    return "reschedule"


async def move_given_a_reason_to_let_an_overlap_stand(order: dict) -> str:
    await Reschedule.update({Reschedule.override_reason: "approved by the area manager"}, force=True)
    return "reschedule"


async def handover_deleted(order: dict) -> str:
    await Assignment.delete().where(Assignment.visit == order["second"])
    return "assignment"


async def contact_deleted(order: dict) -> str:
    await ContactLog.delete(force=True)
    return "contact_log"


async def cancellation_deleted(order: dict) -> str:
    await Cancellation.delete(force=True)
    return "cancellation"


async def test_a_trail_the_dispatch_records_of_a_worked_order_match_the_trail(client, as_dispatcher, app):
    await worked_order(client, as_dispatcher)
    await quiet(app)

    assert await first_order_mismatch(app.state.ctx) == (1, None)


@pytest.mark.parametrize(
    "edit",
    [
        site_moved_2_km_north, site_made_rural, customer_made_diamond, order_accepted_an_hour_later,
        repair_due_a_day_later, visit_given_to_another_technician, visit_uncancelled, move_deleted,
        move_given_a_reason_to_let_an_overlap_stand, handover_deleted, contact_deleted, cancellation_deleted,
    ],
)
async def test_a_trail_a_dispatch_record_edited_behind_the_services_back_is_named(
    client, as_dispatcher, app, edit: Edit
):
    order = await worked_order(client, as_dispatcher)
    await quiet(app)
    table = await edit(order)

    _, mismatch = await first_order_mismatch(app.state.ctx)

    assert (mismatch.table, mismatch.row_id) == ("work_order", order["id"])
    assert f"({table})" in mismatch.reason


async def test_a_trail_a_work_order_inserted_behind_the_services_back_is_named(client, as_dispatcher, app):
    order = await create_order(client, as_dispatcher)
    await quiet(app)
    copied = await WorkOrder.select().where(WorkOrder.id == order["id"]).first()
    await WorkOrder.insert(WorkOrder(**{**copied, "id": uuid4()}))

    _, mismatch = await first_order_mismatch(app.state.ctx)

    assert "creation the trail never recorded" in mismatch.reason


async def test_a_trail_an_order_changed_by_dispatchers_at_once_matches_its_last_statement(client, as_dispatcher, app):
    order = await create_order(client, as_dispatcher, kind="repair")
    visit = (await book(client, as_dispatcher, order["id"], NOON)).json()
    move = {"newTime": (NOON + timedelta(hours=3)).isoformat(), "initiator": "company",
            "reasonCode": "parts_unavailable", "customerConfirmed": True}
    tech = await technician_id(client, as_dispatcher, "T1002")

    responses = await asyncio.gather(
        client.post(f"/v1/work-orders/{order['id']}/contacts", json={"channel": "sms"}, headers=as_dispatcher),
        client.post(f"/v1/visits/{visit['id']}/reschedule", json=move, headers=as_dispatcher),
        assign(client, as_dispatcher, visit["id"], tech),
    )
    await quiet(app)

    assert [response.status_code for response in responses] == [201, 200, 200]

    assert await first_order_mismatch(app.state.ctx) == (1, None)


async def test_a_trail_a_work_order_deleted_with_its_visits_behind_the_services_back_is_named(
    client, as_dispatcher, app
):
    order = await worked_order(client, as_dispatcher)
    await create_order(client, as_dispatcher)  # another order, untouched
    await quiet(app)
    for table in (Reschedule, Assignment, Cancellation):
        await table.delete(force=True)
    await ContactLog.delete(force=True)
    await Visit.delete().where(Visit.work_order == order["id"])
    await WorkOrder.delete().where(WorkOrder.id == order["id"])

    _, mismatch = await first_order_mismatch(app.state.ctx)

    assert (mismatch.table, mismatch.row_id) == ("work_order", order["id"])
