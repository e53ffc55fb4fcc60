"""V-CLOSE with the customer not at home, through the phone API: wait, check out, complete; the order books again."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.integration.builders import book, decide
from tests.integration.mobile_builders import (  # noqa: F401 - phone and visit_id are fixtures
    AGREED,
    AT_SITE,
    Phone,
    phone,
    row_counts,
    visit_id,
)

ABSENT = {"outcome": "unresolved", "reason": "Nobody home; called twice, no answer", "customerAbsent": True}
TWO_KM_NORTH = {"latitude": AT_SITE["latitude"] + 0.018}


async def wait_at_the_door(phone: Phone, visit_id: str, waited: timedelta, **where: float) -> httpx.Response:
    """On time, knocks and calls, waits, checks out and completes as customer absent; the completion's answer."""
    phone.clock.now = AGREED - timedelta(minutes=3)
    assert (await phone.post(visit_id, "arrival", phone.fact(location=phone.location(**where)))).status_code == 201
    phone.clock.advance(seconds=waited.total_seconds())
    assert (await phone.post(visit_id, "checkout", phone.fact(location=phone.location()))).status_code == 201
    return await phone.post(visit_id, "complete", phone.fact(**ABSENT))


async def findings(client: httpx.AsyncClient, auditor: dict[str, str], visit_id: str) -> tuple[str, dict[str, str]]:
    body = (await client.get(f"/v1/review/visits/{visit_id}", headers=auditor)).json()
    return body["verdict"]["status"], {f["code"]: f["severity"] for f in body["verdict"]["findings"]}


async def test_v_close_customer_absent_after_a_wait_at_the_site_closes_unresolved_and_passes(
    client, phone, visit_id, as_dispatcher, as_auditor
):
    completed = await wait_at_the_door(phone, visit_id, timedelta(minutes=15))

    assert completed.status_code == 201, completed.text
    order_id = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()["workOrderId"]
    order = (await client.get(f"/v1/work-orders/{order_id}", headers=as_dispatcher)).json()
    assert (order["status"], order["outcome"]) == ("closed", "unresolved")
    status, codes = await findings(client, as_auditor, visit_id)
    assert (status, codes.get("v.close.customer_absent")) == ("passed", "info")


async def test_v_close_customer_absent_the_order_takes_a_new_visit(client, phone, visit_id, as_dispatcher):
    assert (await wait_at_the_door(phone, visit_id, timedelta(minutes=15))).status_code == 201
    order_id = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()["workOrderId"]

    again = await book(client, as_dispatcher, order_id, AGREED + timedelta(days=1))

    assert again.status_code == 201, again.text
    order = (await client.get(f"/v1/work-orders/{order_id}", headers=as_dispatcher)).json()
    assert order["status"] == "open"


async def test_v_close_customer_absent_after_a_five_minute_wait_is_flagged(client, phone, visit_id, as_auditor):
    assert (await wait_at_the_door(phone, visit_id, timedelta(minutes=5))).status_code == 201

    status, codes = await findings(client, as_auditor, visit_id)

    assert (status, codes.get("v.close.absent_wait_short")) == ("flagged", "violation")


async def test_v_close_customer_absent_returned_for_a_short_wait_is_put_right_by_going_back_and_waiting(
    client, phone, visit_id, as_auditor
):
    assert (await wait_at_the_door(phone, visit_id, timedelta(minutes=5))).status_code == 201
    returned = {"decision": "return", "reason": "Waited only five minutes", "requested": ["V-CLOSE: wait 10 min"]}
    decided = await decide(client, visit_id, returned, as_auditor)
    assert decided.status_code == 201, decided.text

    phone.clock.advance(hours=2)
    assert (await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))).status_code == 201
    phone.clock.advance(minutes=15)
    assert (await phone.post(visit_id, "checkout", phone.fact(location=phone.location()))).status_code == 201
    assert (await phone.post(visit_id, "complete", phone.fact(**ABSENT))).status_code == 201

    status, codes = await findings(client, as_auditor, visit_id)
    assert (status, codes.get("v.close.customer_absent")) == ("passed", "info")


async def test_v_close_customer_absent_claimed_from_two_km_away_is_flagged(client, phone, visit_id, as_auditor):
    assert (await wait_at_the_door(phone, visit_id, timedelta(minutes=15), **TWO_KM_NORTH)).status_code == 201

    status, codes = await findings(client, as_auditor, visit_id)

    assert (status, codes.get("v.geofence.outside")) == ("flagged", "violation")


async def test_v_close_customer_absent_cannot_be_resolved_and_nothing_is_recorded(client, phone, visit_id):
    phone.clock.now = AGREED - timedelta(minutes=3)
    assert (await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))).status_code == 201
    before = await row_counts()

    refused = await phone.post(visit_id, "complete", phone.fact(outcome="resolved", customerAbsent=True))

    assert (refused.status_code, refused.json()["code"]) == (422, "complete.absent_resolved")
    assert await row_counts() == before


async def test_v_close_customer_absent_without_a_check_out_is_refused_with_only_the_check_out_missing(
    client, phone, visit_id
):
    phone.clock.now = AGREED - timedelta(minutes=3)
    assert (await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))).status_code == 201
    phone.clock.advance(minutes=15)

    refused = await phone.post(visit_id, "complete", phone.fact(**ABSENT))

    assert (refused.status_code, refused.json()["code"]) == (422, "visit.incomplete")
    assert [item["ruleId"] for item in refused.json()["details"]] == ["V-CHECKOUT"]


async def test_v_close_customer_absent_a_later_trips_door_check_in_dated_back_across_a_counted_restart_is_short(
    client, phone, visit_id, as_auditor
):
    """Back on a second trip, on-my-way sent online; at the door the clock set back 8 min and the return tapped
    offline, its fix on the phone's clock; restarted, the clock put right, check-out 3 min after the tap, all synced:
    the wait read 11 min (a probe). The phone counts its boots, so the boot the check-in names dates it."""
    assert (await wait_at_the_door(phone, visit_id, timedelta(minutes=5))).status_code == 201
    returned = {"decision": "return", "reason": "Waited only five minutes", "requested": ["V-CLOSE: wait 10 min"]}
    decided = await decide(client, visit_id, returned, as_auditor)
    assert decided.status_code == 201, decided.text
    phone.clock.advance(hours=2)
    phone.elapsed_ms, phone.boot = 30 * 60_000, 4
    assert (await phone.post(visit_id, "on-my-way", phone.fact(etaMinutes=20))).status_code == 201
    phone.clock.advance(minutes=20)
    phone.elapsed_ms += 20 * 60_000
    phone.skew = -timedelta(minutes=8)
    at_the_door = phone.fact(location=phone.location())
    phone.clock.advance(minutes=1)
    phone.restart()
    phone.skew = timedelta(0)  # the clock put right
    phone.clock.advance(minutes=2)
    phone.elapsed_ms += 2 * 60_000
    checkout, completion = phone.fact(location=phone.location()), phone.fact(**ABSENT)
    facts = [{"type": kind, "visitId": visit_id, "body": body}
             for kind, body in (("return", at_the_door), ("checkout", checkout), ("completion", completion))]
    synced = await phone.client.post("/v1/mobile/sync", json={"facts": facts}, headers=phone.headers())
    assert {receipt["status"] for receipt in synced.json()["receipts"]} == {"accepted"}, synced.text

    status, codes = await findings(client, as_auditor, visit_id)
    assert (status, codes.get("v.close.absent_wait_short")) == ("flagged", "violation"), codes


async def test_v_close_customer_absent_a_check_out_dated_ahead_across_a_restart_by_a_phone_counting_boots_is_short(
    client, phone, visit_id, as_auditor
):
    """At the door at -3 min (sent online); 3 min later the clock set 10 min ahead and the check-out tapped offline,
    its fix on the phone's clock; restarted, the clock put right, completed and synced 10 min later: the wait read
    13 min (a probe)."""
    phone.clock.now, phone.elapsed_ms, phone.boot = AGREED - timedelta(minutes=3), 60 * 60_000, 5
    assert (await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))).status_code == 201
    phone.clock.advance(minutes=3)
    phone.elapsed_ms += 3 * 60_000
    phone.skew = timedelta(minutes=10)
    checkout = phone.fact(location=phone.location())
    phone.clock.advance(minutes=1)
    phone.restart()
    phone.skew = timedelta(0)
    phone.clock.advance(minutes=10)
    phone.elapsed_ms += 10 * 60_000
    completion = phone.fact(**ABSENT)
    facts = [{"type": kind, "visitId": visit_id, "body": body}
             for kind, body in (("checkout", checkout), ("completion", completion))]
    synced = await phone.client.post("/v1/mobile/sync", json={"facts": facts}, headers=phone.headers())
    assert {receipt["status"] for receipt in synced.json()["receipts"]} == {"accepted"}, synced.text

    status, codes = await findings(client, as_auditor, visit_id)
    assert (status, codes.get("v.close.absent_wait_short")) == ("flagged", "violation"), codes
    assert codes.get("e.clock.set_ahead_across_restart") == "warning", codes
