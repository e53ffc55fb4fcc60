"""A dispatcher's request retried with its Idempotency-Key (a double click, a timeout) records once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

from fieldsvc.tables import ContactLog, WorkOrder
from tests.integration.builders import SHANGHAI_SITE

ORDER = {
    "kind": "install",
    "description": "Broadband install",
    "customer": {"name": "Li Wei", "phone": "13900000000", "tier": "standard"},
    "site": SHANGHAI_SITE,
}


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_a_work_order_sent_again_with_its_key_is_recorded_once_and_answers_the_first(client, as_dispatcher):
    key = str(uuid4())
    first = await client.post("/v1/work-orders", json=ORDER, headers=keyed(as_dispatcher, key))
    again = await client.post("/v1/work-orders", json=ORDER, headers=keyed(as_dispatcher, key))

    assert (first.status_code, again.status_code, again.headers["Idempotent-Replay"]) == (201, 200, "true")
    assert again.json() == first.json()
    assert await WorkOrder.count() == 1


async def test_a_work_order_sent_twelve_times_at_once_with_one_key_is_recorded_once(client, as_dispatcher):
    headers = keyed(as_dispatcher, str(uuid4()))
    answers = await asyncio.gather(*(client.post("/v1/work-orders", json=ORDER, headers=headers) for _ in range(12)))

    assert sorted(answer.status_code for answer in answers) == [200] * 11 + [201]
    assert {answer.json()["id"] for answer in answers} == {answers[0].json()["id"]}
    assert await WorkOrder.count() == 1


async def test_a_key_used_again_for_another_work_order_is_a_conflict_that_records_nothing(client, as_dispatcher):
    key = str(uuid4())
    await client.post("/v1/work-orders", json=ORDER, headers=keyed(as_dispatcher, key))
    other = await client.post("/v1/work-orders", json={**ORDER, "kind": "repair", "reportedFault": "No signal"},
                              headers=keyed(as_dispatcher, key))

    assert (other.status_code, other.json()["code"]) == (409, "request.key_reused")
    assert await WorkOrder.count() == 1


async def test_work_orders_without_a_key_or_with_two_keys_are_two_orders(client, as_dispatcher):
    await client.post("/v1/work-orders", json=ORDER, headers=as_dispatcher)
    await client.post("/v1/work-orders", json=ORDER, headers=as_dispatcher)
    await client.post("/v1/work-orders", json=ORDER, headers=keyed(as_dispatcher, "a"))
    await client.post("/v1/work-orders", json=ORDER, headers=keyed(as_dispatcher, "b"))

    assert await WorkOrder.count() == 4


async def test_a_contact_sent_again_with_its_key_is_logged_once(client, as_dispatcher):
    order = (await client.post("/v1/work-orders", json=ORDER, headers=as_dispatcher)).json()
    url, headers = f"/v1/work-orders/{order['id']}/contacts", keyed(as_dispatcher, str(uuid4()))
    first = await client.post(url, json={"channel": "phone"}, headers=headers)
    again = await client.post(url, json={"channel": "phone"}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 200)
    assert await ContactLog.count() == 1


async def test_a_contact_retried_with_its_key_after_the_logging_grace_ran_out_answers_the_first(
    client, as_dispatcher, clock
):
    accepted = {**ORDER, "acceptedAt": (clock.now - timedelta(hours=1)).isoformat()}
    order = (await client.post("/v1/work-orders", json=accepted, headers=as_dispatcher)).json()
    url, headers = f"/v1/work-orders/{order['id']}/contacts", keyed(as_dispatcher, str(uuid4()))
    body = {"channel": "phone", "contactedAt": (clock.now - timedelta(minutes=29, seconds=50)).isoformat()}
    first = await client.post(url, json=body, headers=headers)
    clock.advance(seconds=15)
    again = await client.post(url, json=body, headers=headers)

    assert (first.status_code, again.status_code, again.headers.get("Idempotent-Replay")) == (201, 200, "true")
    assert await ContactLog.count() == 1


async def test_a_request_carrying_two_keys_at_once_is_400_naming_the_header_and_records_nothing(client, as_dispatcher):
    """Which of two keys would make a retry safe is a guess: the first was taken silently (a probe)."""
    headers = [*as_dispatcher.items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]

    response = await client.post("/v1/work-orders", json=ORDER, headers=headers)

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed")
    assert [(d["field"], d["source"]) for d in response.json()["details"]] == [("Idempotency-Key", "header")]
    assert await WorkOrder.count() == 0
