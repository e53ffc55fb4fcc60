"""B-ORDER, B-CONTACT, B-FIRST, B-REPAIR, B-APPT, B-QUIET and B-INSTALL-24 through the dispatcher API."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fieldsvc.tables import Customer, WorkOrder
from tests.integration.builders import SHANGHAI_SITE, assign, book, booked_visit, create_order, technician_id

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACCEPTED = datetime(2030, 3, 4, 8, 30, tzinfo=SHANGHAI)


def hours_between(later: str, earlier: datetime) -> float:
    return (datetime.fromisoformat(later) - earlier).total_seconds() / 3600


@pytest.mark.parametrize(("tier", "hours"), [("diamond", 8), ("gold", 8), ("silver", 12), ("standard", 24)])
async def test_b_contact_deadline_follows_the_tier(client, as_dispatcher, tier, hours):
    order = await create_order(client, as_dispatcher, tier=tier, accepted_at=ACCEPTED)
    assert hours_between(order["deadlines"]["contactDueAt"], ACCEPTED) == hours
    assert order["deadlines"]["resolveDueAt"] is None


@pytest.mark.parametrize(("tier", "hours"), [("diamond", 24), ("gold", 24), ("silver", 24), ("standard", 48)])
async def test_b_repair_deadline_follows_the_tier(client, as_dispatcher, tier, hours):
    order = await create_order(client, as_dispatcher, kind="repair", tier=tier, accepted_at=ACCEPTED)
    assert hours_between(order["deadlines"]["resolveDueAt"], ACCEPTED) == hours


async def test_b_first_response_is_due_two_hours_after_a_repair_is_accepted(client, as_dispatcher):
    order = await create_order(client, as_dispatcher, kind="repair", accepted_at=ACCEPTED)
    assert hours_between(order["deadlines"]["firstResponseDueAt"], ACCEPTED) == 2


async def test_accepted_at_defaults_to_now(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher)
    assert datetime.fromisoformat(order["acceptedAt"]) == clock.now


@pytest.mark.parametrize(("ahead", "status"), [(timedelta(minutes=5), 201), (timedelta(minutes=5, seconds=1), 422)])
async def test_accepted_at_may_not_lie_in_the_future(client, as_dispatcher, clock, ahead, status):
    body = {"kind": "install", "description": "x", "customer": {"name": "Li", "phone": "13900000000", "tier": "gold"},
            "site": SHANGHAI_SITE, "acceptedAt": (clock.now + ahead).isoformat()}
    response = await client.post("/v1/work-orders", json=body, headers=as_dispatcher)
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["code"] == "work_order.accepted_in_future"


async def test_accepted_at_ahead_of_the_servers_clock_within_the_leeway_is_accepted_now_and_a_contact_then_is_taken(
    client, as_dispatcher, clock
):
    """Stored as sent, it put every deadline later and refused a contact logged now as before the acceptance."""
    body = {"kind": "repair", "description": "no signal", "reportedFault": "No internet since morning",
            "customer": {"name": "Li", "phone": "13900000000", "tier": "gold"}, "site": SHANGHAI_SITE,
            "acceptedAt": (clock.now + timedelta(minutes=4)).isoformat()}
    order = (await client.post("/v1/work-orders", json=body, headers=as_dispatcher)).json()

    contact = await client.post(f"/v1/work-orders/{order['id']}/contacts", json={"channel": "phone"},
                                headers=as_dispatcher)

    assert datetime.fromisoformat(order["acceptedAt"]) == clock.now
    assert hours_between(order["deadlines"]["firstResponseDueAt"], clock.now) == 2
    assert contact.status_code == 201, contact.text


async def test_repair_without_reported_fault_is_refused(client, as_dispatcher):
    body = {
        "kind": "repair", "description": "x",
        "customer": {"name": "A", "phone": "13900000000", "tier": "gold"},
        "site": {"address": "x", "latitude": 31.0, "longitude": 121.0, "locality": "urban"},
    }
    response = await client.post("/v1/work-orders", json=body, headers=as_dispatcher)
    assert response.status_code == 422
    assert response.json()["code"] == "work_order.fault_required"


@pytest.mark.parametrize(
    ("field", "value"),
    [("latitude", 91), ("longitude", -180.5), ("locality", "suburban")],
)
async def test_invalid_site_fields_are_refused(client, as_dispatcher, field, value):
    site = {"address": "x", "latitude": 31.0, "longitude": 121.0, "locality": "urban", field: value}
    body = {"kind": "install", "description": "x", "customer": {"name": "A", "phone": "13900000000", "tier": "gold"}, "site": site}
    response = await client.post("/v1/work-orders", json=body, headers=as_dispatcher)
    assert response.status_code == 400
    assert response.json()["code"] == "validation.failed"


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "America", "__pycache__", "localtime", "Factory", "posixrules", "right/UTC", "", " "]
)
async def test_unknown_time_zone_is_refused(client, as_dispatcher, zone):
    site = {"address": "x", "latitude": 31.0, "longitude": 121.0, "locality": "urban", "timeZone": zone}
    body = {"kind": "install", "description": "x", "customer": {"name": "A", "phone": "13900000000", "tier": "gold"}, "site": site}
    response = await client.post("/v1/work-orders", json=body, headers=as_dispatcher)
    assert response.status_code == 422
    assert response.json()["code"] == "site.unknown_time_zone"


async def test_unknown_tier_is_refused(client, as_dispatcher):
    body = {
        "kind": "install", "description": "x",
        "customer": {"name": "A", "phone": "13900000000", "tier": "platinum"},
        "site": {"address": "x", "latitude": 31.0, "longitude": 121.0, "locality": "urban"},
    }
    response = await client.post("/v1/work-orders", json=body, headers=as_dispatcher)
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "customer.tier"


async def test_existing_customer_and_site_can_be_reused(client, as_dispatcher):
    first = await create_order(client, as_dispatcher)
    body = {"kind": "repair", "description": "again", "reportedFault": "slow",
            "customerId": first["customer"]["id"], "siteId": first["site"]["id"]}
    response = await client.post("/v1/work-orders", json=body, headers=as_dispatcher)
    assert response.status_code == 201
    assert response.json()["site"]["id"] == first["site"]["id"]


async def test_site_of_another_customer_is_refused(client, as_dispatcher):
    first = await create_order(client, as_dispatcher)
    body = {"kind": "install", "description": "x", "siteId": first["site"]["id"],
            "customer": {"name": "B", "phone": "13900000001", "tier": "gold"}}
    response = await client.post("/v1/work-orders", json=body, headers=as_dispatcher)
    assert response.status_code == 422
    assert response.json()["code"] == "work_order.unknown_site"


@pytest.mark.parametrize(
    ("local_time", "refused"),
    [("19:59", False), ("20:00", True), ("07:59", True), ("08:00", False), ("23:30", True), ("03:00", True)],
)
async def test_b_quiet_hours_edges_in_the_site_zone(client, as_dispatcher, local_time, refused):
    order = await create_order(client, as_dispatcher, kind="repair")
    hour, minute = map(int, local_time.split(":"))
    agreed = datetime(2030, 3, 5, hour, minute, tzinfo=SHANGHAI)
    response = await book(client, as_dispatcher, order["id"], agreed)
    assert response.status_code == (422 if refused else 201), response.text
    if refused:
        assert response.json()["code"] == "booking.quiet_hours"


async def test_b_quiet_hours_refusal_names_the_site_local_time_to_the_second_when_it_has_seconds(client, as_dispatcher):
    order = await create_order(client, as_dispatcher, kind="repair")
    response = await book(client, as_dispatcher, order["id"], datetime(2030, 3, 5, 7, 59, 59, tzinfo=SHANGHAI))
    assert response.status_code == 422
    assert response.json()["details"]["siteLocalTime"] == "07:59:59"
    assert response.json()["message"].startswith("B-QUIET: 07:59:59 site-local (Asia/Shanghai)")


@pytest.mark.parametrize(("local_time", "refused"), [("19:59", False), ("20:00", True), ("07:59", True), ("08:00", False)])
async def test_b_quiet_hours_use_the_site_zone_not_the_server_zone(client, as_dispatcher, local_time, refused):
    berlin = {"address": "Alexanderplatz 1", "latitude": 52.52, "longitude": 13.41, "locality": "urban", "timeZone": "Europe/Berlin"}
    order = await create_order(client, as_dispatcher, kind="repair", site=berlin)
    hour, minute = map(int, local_time.split(":"))
    agreed = datetime(2030, 3, 5, hour, minute, tzinfo=ZoneInfo("Europe/Berlin"))
    response = await book(client, as_dispatcher, order["id"], agreed)
    assert response.status_code == (422 if refused else 201), response.text


async def test_booking_in_the_past_is_refused(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher)
    response = await book(client, as_dispatcher, order["id"], clock.now - timedelta(hours=1))
    assert response.status_code == 422
    assert response.json()["code"] == "booking.in_past"
    assert response.json()["details"]["now"] == clock.now.isoformat().replace("+00:00", "Z")


async def test_b_install_24_refuses_a_later_install_without_reason(client, as_dispatcher):
    order = await create_order(client, as_dispatcher)
    response = await book(client, as_dispatcher, order["id"], datetime(2030, 3, 6, 10, 0, tzinfo=SHANGHAI))
    assert response.status_code == 422
    assert response.json()["code"] == "booking.install_too_late"
    details = response.json()["details"]
    assert (details["hoursAfterBooking"], details["limitHours"]) == (49.0, 24.0)


async def test_b_install_24_a_install_a_second_too_late_says_so_in_its_hours(client, as_dispatcher):
    order = await create_order(client, as_dispatcher)  # booked at 09:00 Shanghai
    response = await book(client, as_dispatcher, order["id"], datetime(2030, 3, 5, 9, 0, 1, tzinfo=SHANGHAI))
    assert response.status_code == 422
    details = response.json()["details"]
    assert (details["hoursAfterBooking"], details["limitHours"]) == (24.0003, 24.0)


async def test_b_install_24_a_visit_cancelled_and_booked_again_counts_from_the_orders_first_booking(
    client, as_dispatcher, clock
):
    order = await create_order(client, as_dispatcher)
    first = await book(client, as_dispatcher, order["id"], datetime(2030, 3, 5, 8, 30, tzinfo=SHANGHAI))
    cancel = {"reasonCode": "other", "requestedBy": "company", "note": "technician off sick"}
    assert (await client.post(f"/v1/visits/{first.json()['id']}/cancel", json=cancel, headers=as_dispatcher)).status_code == 200
    clock.advance(hours=11)  # 20:00: the new time is 23 h away, 34 h after the first booking

    again = await book(client, as_dispatcher, order["id"], datetime(2030, 3, 5, 19, 0, tzinfo=SHANGHAI))

    assert (again.status_code, again.json()["code"]) == (422, "booking.install_too_late")
    assert again.json()["details"]["hoursAfterBooking"] == 34.0


async def test_b_install_24_allows_a_later_install_the_customer_asked_for(client, as_dispatcher):
    order = await create_order(client, as_dispatcher)
    agreed = datetime(2030, 3, 6, 10, 0, tzinfo=SHANGHAI)
    response = await book(client, as_dispatcher, order["id"], agreed, lateReason="customer_requested")
    assert response.status_code == 201
    assert response.json()["lateReason"] == "customer_requested"


async def test_b_install_24_resource_unavailable_needs_the_customer_notified(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher)
    agreed = datetime(2030, 3, 6, 10, 0, tzinfo=SHANGHAI)
    refused = await book(client, as_dispatcher, order["id"], agreed, lateReason="resource_unavailable")
    assert refused.json()["code"] == "booking.customer_not_notified"
    notified = clock.now.isoformat()  # told on the call that booked it
    accepted = await book(
        client, as_dispatcher, order["id"], agreed, lateReason="resource_unavailable", customerNotifiedAt=notified
    )
    assert accepted.status_code == 201


@pytest.mark.parametrize("notified_after_acceptance", [timedelta(hours=23), timedelta(minutes=-1)], ids=["future", "before-order"])
async def test_b_install_24_a_customer_notified_in_the_future_or_before_the_order_is_refused(
    client, as_dispatcher, clock, notified_after_acceptance
):
    order = await create_order(client, as_dispatcher)
    agreed = datetime(2030, 3, 6, 10, 0, tzinfo=SHANGHAI)
    notified = (clock.now + notified_after_acceptance).isoformat()

    response = await book(
        client, as_dispatcher, order["id"], agreed, lateReason="resource_unavailable", customerNotifiedAt=notified
    )

    assert (response.status_code, response.json()["code"]) == (422, "booking.notified_out_of_range")
    assert (await client.get(f"/v1/work-orders/{order['id']}", headers=as_dispatcher)).json()["visits"] == []


@pytest.mark.parametrize("confirmed_after_acceptance", [timedelta(hours=2), timedelta(minutes=-1)], ids=["future", "before-order"])
async def test_b_appt_a_confirmation_in_the_future_or_before_the_order_is_refused(
    client, as_dispatcher, clock, confirmed_after_acceptance
):
    order = await create_order(client, as_dispatcher)
    confirmation = {"channel": "sms", "confirmedAt": (clock.now + confirmed_after_acceptance).isoformat()}

    agreed = datetime(2030, 3, 4, 14, 0, tzinfo=SHANGHAI)

    response = await book(client, as_dispatcher, order["id"], agreed, confirmation=confirmation)

    assert (response.status_code, response.json()["code"]) == (422, "booking.confirmed_out_of_range")
    assert (await client.get(f"/v1/work-orders/{order['id']}", headers=as_dispatcher)).json()["visits"] == []


async def test_b_appt_a_confirmation_without_its_time_was_given_when_the_visit_was_booked(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher)
    response = await book(client, as_dispatcher, order["id"], datetime(2030, 3, 4, 14, 0, tzinfo=SHANGHAI))
    assert response.status_code == 201, response.text
    confirmation = response.json()["confirmation"]
    assert (confirmation["channel"], datetime.fromisoformat(confirmation["confirmedAt"])) == ("phone", clock.now)


async def test_b_install_24_exactly_at_the_limit_is_allowed(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher)
    response = await book(client, as_dispatcher, order["id"], clock.now + timedelta(hours=24))
    assert response.status_code == 201


async def test_a_second_open_visit_on_one_order_is_refused(client, as_dispatcher):
    order = await create_order(client, as_dispatcher)
    agreed = datetime(2030, 3, 4, 14, 0, tzinfo=SHANGHAI)
    assert (await book(client, as_dispatcher, order["id"], agreed)).status_code == 201
    response = await book(client, as_dispatcher, order["id"], agreed + timedelta(hours=1))
    assert response.status_code == 409
    assert response.json()["code"] == "booking.visit_open"


async def test_logged_contact_satisfies_first_contact(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher, kind="repair")
    response = await client.post(f"/v1/work-orders/{order['id']}/contacts", json={"channel": "phone"}, headers=as_dispatcher)
    assert response.status_code == 201
    assert datetime.fromisoformat(response.json()["firstContactAt"]) == clock.now


async def log_contact_at(client, as_dispatcher, order_id: str, at: datetime):  # noqa: ANN001, ANN201
    body = {"channel": "phone", "contactedAt": at.isoformat()}
    return await client.post(f"/v1/work-orders/{order_id}/contacts", json=body, headers=as_dispatcher)


async def test_a_contact_logged_soon_after_the_call_keeps_the_calls_time(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher, kind="repair", accepted_at=clock.now - timedelta(hours=1))
    response = await log_contact_at(client, as_dispatcher, order["id"], clock.now - timedelta(minutes=20))
    assert response.status_code == 201
    assert datetime.fromisoformat(response.json()["firstContactAt"]) == clock.now - timedelta(minutes=20)


async def test_a_contact_dated_ahead_of_the_servers_clock_within_the_leeway_is_taken_as_now(client, as_dispatcher, clock):
    """Stored as sent, the order's first contact lay in the future (a probe); an order accepted "ahead" is now."""
    order = await create_order(client, as_dispatcher, kind="repair", accepted_at=clock.now - timedelta(hours=1))
    response = await log_contact_at(client, as_dispatcher, order["id"], clock.now + timedelta(minutes=4))
    assert response.status_code == 201
    assert datetime.fromisoformat(response.json()["firstContactAt"]) == clock.now


async def test_b_appt_a_confirmation_dated_ahead_of_the_servers_clock_within_the_leeway_is_taken_as_now(
    client, as_dispatcher, clock
):
    order = await create_order(client, as_dispatcher)
    confirmation = {"channel": "sms", "confirmedAt": (clock.now + timedelta(minutes=4)).isoformat()}
    response = await book(client, as_dispatcher, order["id"], datetime(2030, 3, 4, 14, 0, tzinfo=SHANGHAI),
                          confirmation=confirmation)
    assert response.status_code == 201, response.text
    assert datetime.fromisoformat(response.json()["confirmation"]["confirmedAt"]) == clock.now


async def test_b_first_the_earliest_contact_counts_though_logged_after_a_later_one(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher, kind="repair", accepted_at=clock.now - timedelta(hours=2))
    assert (await log_contact_at(client, as_dispatcher, order["id"], clock.now)).status_code == 201
    response = await log_contact_at(client, as_dispatcher, order["id"], clock.now - timedelta(minutes=20))

    assert datetime.fromisoformat(response.json()["firstContactAt"]) == clock.now - timedelta(minutes=20)


@pytest.mark.parametrize(
    ("contacted", "code"),
    [
        (timedelta(minutes=-45), "contact.logged_late"),  # a late first response dated back into B-FIRST's 2 h
        (timedelta(hours=1), "contact.in_future"),
        (timedelta(hours=-3), "contact.logged_late"),
    ],
    ids=["dated-back-45-min", "in-the-future", "before-the-fault-was-reported"],
)
async def test_a_contact_time_a_deadline_cannot_trust_is_refused(client, as_dispatcher, clock, contacted, code):
    order = await create_order(client, as_dispatcher, kind="repair", accepted_at=clock.now - timedelta(hours=2))
    response = await log_contact_at(client, as_dispatcher, order["id"], clock.now + contacted)
    assert (response.status_code, response.json()["code"]) == (422, code)


async def test_a_contact_before_the_order_was_accepted_is_refused(client, as_dispatcher, clock):
    order = await create_order(client, as_dispatcher, kind="repair", accepted_at=clock.now - timedelta(minutes=10))
    response = await log_contact_at(client, as_dispatcher, order["id"], clock.now - timedelta(minutes=20))
    assert (response.status_code, response.json()["code"]) == (422, "contact.before_acceptance")


async def test_unknown_work_order_is_404(client, as_dispatcher):
    response = await client.get("/v1/work-orders/00000000-0000-4000-8000-000000000000", headers=as_dispatcher)
    assert response.status_code == 404
    assert response.json()["code"] == "work_order.not_found"


async def test_technician_cannot_create_work_orders(client, as_tech):
    response = await client.post("/v1/work-orders", json={}, headers=as_tech)
    assert response.status_code == 403


async def test_v_close_forced_close_is_recorded_and_flags_the_visit(client, as_dispatcher):
    order = await create_order(client, as_dispatcher, kind="repair")
    await book(client, as_dispatcher, order["id"], datetime(2030, 3, 4, 14, 0, tzinfo=SHANGHAI))
    response = await client.post(
        f"/v1/work-orders/{order['id']}/force-close",
        json={"outcome": "unresolved", "reason": "customer moved out"},
        headers=as_dispatcher,
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["forcedCloseReason"]) == ("closed", "customer moved out")
    assert body["visits"][0]["verdict"] == "flagged"


@pytest.mark.parametrize(
    "reason", ["   ", "\u200b\u2060", "\u202e", "\x01\x02"], ids=["spaces", "zero_width", "direction_override", "control"]
)
async def test_v_close_forced_close_with_a_reason_that_shows_nothing_is_refused(client, as_dispatcher, reason):
    order = await create_order(client, as_dispatcher)
    close = {"outcome": "unresolved", "reason": reason}
    response = await client.post(f"/v1/work-orders/{order['id']}/force-close", json=close, headers=as_dispatcher)
    assert response.status_code == 400
    assert response.json()["details"][0] == {
        "field": "reason", "message": "Expected text that is not blank", "source": "body"
    }
    assert (await client.get(f"/v1/work-orders/{order['id']}", headers=as_dispatcher)).json()["status"] != "closed"


async def test_v_close_forced_close_twice_is_409(client, as_dispatcher):
    order = await create_order(client, as_dispatcher)
    close = {"outcome": "unresolved", "reason": "duplicate order"}
    await client.post(f"/v1/work-orders/{order['id']}/force-close", json=close, headers=as_dispatcher)
    response = await client.post(f"/v1/work-orders/{order['id']}/force-close", json=close, headers=as_dispatcher)
    assert response.status_code == 409
    assert response.json()["code"] == "work_order.not_open"


async def order_with_its_first_visit_cancelled(client, as_dispatcher, clock) -> tuple[dict, str, str]:  # noqa: ANN001
    """A repair whose first visit the customer cancelled, and a second visit booked a minute later; the order and both
    visit ids."""
    order = await create_order(client, as_dispatcher, kind="repair")
    first = (await book(client, as_dispatcher, order["id"], datetime(2030, 3, 4, 14, 0, tzinfo=SHANGHAI))).json()
    cancel = {"reasonCode": "customer_requested", "requestedBy": "customer"}
    assert (await client.post(f"/v1/visits/{first['id']}/cancel", json=cancel, headers=as_dispatcher)).status_code == 200
    clock.advance(minutes=1)
    second = (await book(client, as_dispatcher, order["id"], datetime(2030, 3, 4, 16, 0, tzinfo=SHANGHAI))).json()
    return order, first["id"], second["id"]


async def test_v_close_a_forced_close_after_the_first_visit_was_cancelled_flags_the_visit_left(
    client, as_dispatcher, as_auditor, clock
):
    order, cancelled, left = await order_with_its_first_visit_cancelled(client, as_dispatcher, clock)
    clock.now = datetime(2030, 3, 4, 16, 5, tzinfo=SHANGHAI)  # the second visit is due: it stays open
    close = {"outcome": "resolved", "reason": "fixed remotely"}
    assert (await client.post(f"/v1/work-orders/{order['id']}/force-close", json=close, headers=as_dispatcher)).status_code == 200

    verdicts = {}
    for visit in (cancelled, left):
        verdict = (await client.get(f"/v1/review/visits/{visit}", headers=as_auditor)).json()["verdict"]
        verdicts[visit] = (verdict["status"], [finding["code"] for finding in verdict["findings"]])
    assert verdicts[left] == ("flagged", ["v.close.forced"])
    assert "v.close.forced" not in verdicts[cancelled][1]


async def test_v_close_a_forced_close_whose_every_visit_ends_cancelled_is_flagged_on_the_first(
    client, as_dispatcher, as_auditor, clock
):
    order, cancelled, later = await order_with_its_first_visit_cancelled(client, as_dispatcher, clock)
    close = {"outcome": "resolved", "reason": "fixed remotely"}  # the later visit is not due yet: cancelled too
    assert (await client.post(f"/v1/work-orders/{order['id']}/force-close", json=close, headers=as_dispatcher)).status_code == 200

    assert (await client.get(f"/v1/visits/{later}", headers=as_dispatcher)).json()["status"] == "cancelled"
    verdict = (await client.get(f"/v1/review/visits/{cancelled}", headers=as_auditor)).json()["verdict"]
    assert (verdict["status"], [finding["code"] for finding in verdict["findings"]]) == ("flagged", ["v.close.forced"])


async def force_closed(client, as_dispatcher, outcome: str) -> dict:  # noqa: ANN001
    order = await create_order(client, as_dispatcher, kind="repair")
    await book(client, as_dispatcher, order["id"], datetime(2030, 3, 4, 14, 0, tzinfo=SHANGHAI))
    close = {"outcome": outcome, "reason": "customer moved out"}
    response = await client.post(f"/v1/work-orders/{order['id']}/force-close", json=close, headers=as_dispatcher)
    assert response.status_code == 200, response.text
    return order


async def test_v_close_a_force_closed_orders_visit_not_yet_due_is_cancelled_and_frees_the_slot(
    client, as_dispatcher, as_tech, as_auditor
):
    tech = await technician_id(client, as_dispatcher, "T1001")
    two_pm = datetime(2030, 3, 4, 14, 0, tzinfo=SHANGHAI)
    order = await create_order(client, as_dispatcher, kind="repair")
    visit = (await book(client, as_dispatcher, order["id"], two_pm)).json()
    assert (await assign(client, as_dispatcher, visit["id"], tech)).status_code == 200
    close = {"outcome": "unresolved", "reason": "customer moved out"}
    assert (await client.post(f"/v1/work-orders/{order['id']}/force-close", json=close, headers=as_dispatcher)).status_code == 200

    assert (await client.get(f"/v1/visits/{visit['id']}", headers=as_dispatcher)).json()["status"] == "cancelled"
    assert (await client.get(f"/v1/mobile/visits/{visit['id']}", headers=as_tech)).json()["status"] == "cancelled"
    verdict = (await client.get(f"/v1/review/visits/{visit['id']}", headers=as_auditor)).json()["verdict"]
    assert [finding["code"] for finding in verdict["findings"]] == ["v.close.forced"]  # nothing of the technician's
    other = (await book(client, as_dispatcher, (await create_order(client, as_dispatcher))["id"], two_pm)).json()
    assert (await assign(client, as_dispatcher, other["id"], tech)).status_code == 200


@pytest.mark.parametrize("outcome", ["resolved", "unresolved"])
async def test_v_close_a_force_closed_order_takes_no_new_visit(client, as_dispatcher, outcome):
    order = await force_closed(client, as_dispatcher, outcome)

    response = await book(client, as_dispatcher, order["id"], datetime(2030, 3, 5, 10, 0, tzinfo=SHANGHAI))

    assert (response.status_code, response.json()["code"]) == (409, "work_order.not_open")


@pytest.mark.parametrize("note", [None, "\u200b"], ids=["no_note", "zero_width_note"])
async def test_b_cancel_reason_other_needs_a_note_and_leaves_the_visit_booked(client, as_dispatcher, note):
    visit = await booked_visit(client, as_dispatcher, datetime(2030, 3, 4, 14, 0, tzinfo=SHANGHAI))
    cancel = {"reasonCode": "other", "requestedBy": "customer", **({"note": note} if note else {})}

    response = await client.post(f"/v1/visits/{visit['id']}/cancel", json=cancel, headers=as_dispatcher)

    assert (response.status_code, response.json()["code"]) == (422, "cancel.note_required")
    assert (await client.get(f"/v1/visits/{visit['id']}", headers=as_dispatcher)).json()["status"] == "scheduled"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"customer": {"name": " ", "phone": "13900000000", "tier": "gold"}}, 400, "validation.failed"),
        ({"customer": {"name": "\u200b", "phone": "13900000000", "tier": "gold"}}, 400, "validation.failed"),
        ({"site": {**SHANGHAI_SITE, "address": "\u2060 \u200b"}}, 400, "validation.failed"),
        ({"reportedFault": "\u200b\u200b"}, 422, "work_order.fault_required"),
        ({"description": "  "}, 400, "validation.failed"),
        ({"description": ""}, 400, "validation.failed"),
    ],
    ids=["customer_spaces", "customer_zero_width", "address_invisible", "fault_zero_width", "description_spaces",
         "description_empty"],
)
async def test_b_order_a_name_address_description_or_fault_that_shows_nothing_is_refused_and_records_nothing(
    client, as_dispatcher, change, status, code
):
    order = {"kind": "repair", "description": "No line", "customer": {"name": "Li Wei", "phone": "13900000000", "tier": "gold"},
             "site": SHANGHAI_SITE, "reportedFault": "No internet since morning", **change}

    response = await client.post("/v1/work-orders", json=order, headers=as_dispatcher)

    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert (await WorkOrder.count(), await Customer.count()) == (0, 0)
