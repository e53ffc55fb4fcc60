"""A dispatcher's request retried with its Idempotency-Key (a double click, a timeout) records once."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from fieldsvc.tables import ContactLog, WorkOrder
from fieldsvc.verdicts.service import VerdictService
from tests.integration.builders import SHANGHAI_SITE, assign, book, create_order, technician_id

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



NOON = datetime(2030, 3, 4, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the frozen clock is 09:00 Shanghai


class SettlingAfterTheCommit:
    """Settling due audits fails as it does while another writer holds SQLite's write lock, once switched on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.failing = False
        settle = VerdictService.settle

        async def settle_unless_failing(service: VerdictService, *args, **kwargs) -> None:
            if self.failing:
                raise sqlite3.OperationalError("database is locked")
            await settle(service, *args, **kwargs)

        monkeypatch.setattr(VerdictService, "settle", settle_unless_failing)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def _booked(client, headers) -> tuple[str, str]:
    order = await create_order(client, headers)
    return order["id"], (await book(client, headers, order["id"], NOON)).json()["id"]


async def _reschedule(client, headers, settling):
    _, visit_id = await _booked(client, headers)
    body = {"newTime": (NOON + timedelta(hours=2)).isoformat(), "initiator": "customer",
            "reasonCode": "customer_requested", "customerConfirmed": True}
    settling.failing = True
    answer = await client.post(f"/v1/visits/{visit_id}/reschedule", json=body, headers=headers)
    return answer, answer.status_code == 200 and _at(answer.json()["agreedTime"]) == NOON + timedelta(hours=2)


async def _contact(client, headers, settling):
    order_id, _ = await _booked(client, headers)
    settling.failing = True
    answer = await client.post(f"/v1/work-orders/{order_id}/contacts", json={"channel": "phone"}, headers=headers)
    return answer, answer.status_code == 201 and answer.json()["firstContactAt"] is not None


async def _cancel(client, headers, settling):
    _, visit_id = await _booked(client, headers)
    settling.failing = True
    body = {"reasonCode": "customer_requested", "requestedBy": "customer"}
    answer = await client.post(f"/v1/visits/{visit_id}/cancel", json=body, headers=headers)
    return answer, answer.status_code == 200 and answer.json()["status"] == "cancelled"


async def _force_close(client, headers, settling):
    order_id, _ = await _booked(client, headers)
    settling.failing = True
    body = {"outcome": "unresolved", "reason": "customer cancelled by phone"}
    answer = await client.post(f"/v1/work-orders/{order_id}/force-close", json=body, headers=headers)
    return answer, answer.status_code == 200 and answer.json()["forcedCloseReason"] == body["reason"]


async def _book(client, headers, settling):
    order = await create_order(client, headers)
    settling.failing = True
    answer = await book(client, headers, order["id"], NOON)
    return answer, answer.status_code == 201 and _at(answer.json()["agreedTime"]) == NOON


async def _assign(client, headers, settling):
    _, visit_id = await _booked(client, headers)
    technician = await technician_id(client, headers, "T1001")
    settling.failing = True
    answer = await assign(client, headers, visit_id, technician)
    return answer, answer.status_code == 200 and answer.json()["technician"]["staffNumber"] == "T1001"


async def _work_order(client, headers, settling):
    settling.failing = True
    answer = await client.post("/v1/work-orders", json=ORDER, headers=headers)
    return answer, answer.status_code == 201 and answer.json()["status"] == "open"


@pytest.mark.parametrize("change", [_reschedule, _contact, _cancel, _force_close, _book, _assign, _work_order])
async def test_a_dispatchers_change_is_answered_as_recorded_when_settling_verdicts_after_its_commit_fails(
    client, as_dispatcher, monkeypatch, change
):
    """Settling due audits after the commit takes SQLite's write lock; another writer holding it is no reason to
    answer 503 "nothing was recorded" about a change that was: its retry would record it again or be refused."""
    answer, shows_the_change = await change(client, as_dispatcher, SettlingAfterTheCommit(monkeypatch))

    assert shows_the_change, answer.text
