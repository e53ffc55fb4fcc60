"""Values no database can store or no calendar can hold (found by fuzzing) are a 400 with a code, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fieldsvc.tables import VisitEvent
from tests.conftest import login
from tests.integration.builders import booking
from tests.integration.mobile_builders import AGREED, phone, visit_id  # noqa: F401 - fixtures

YEAR_ONE_IN_SHANGHAI = "0001-01-01T00:00:00+08:00"  # the year 0 in UTC, before Python's calendar
LAST_HOUR_IN_HAWAII = "9999-12-31T23:00:00-10:00"  # the year 10000 in UTC, after it


@pytest.mark.parametrize("when", [YEAR_ONE_IN_SHANGHAI, LAST_HOUR_IN_HAWAII], ids=["year_1", "year_9999"])
async def test_booking_at_the_ends_of_the_calendar_is_400(client, as_dispatcher, visit_id, when):
    order_id = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()["workOrderId"]

    response = await client.post(
        f"/v1/work-orders/{order_id}/visits", json=booking(AGREED, agreedTime=when), headers=as_dispatcher
    )

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed"), response.text


async def test_a_nul_character_in_a_body_is_400_on_both_engines(client):
    response = await client.post("/v1/auth/login", json={"login": "disp1\u0000", "password": "whatever-123"})

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed"), response.text


async def test_a_monotonic_clock_beyond_any_uptime_is_400_and_records_nothing(phone, visit_id):
    response = await phone.post(visit_id, "notes", phone.fact(topic="general", text="on site", deviceElapsedMs=2**64 - 1))

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed"), response.text
    assert await VisitEvent.count() == 0


@pytest.mark.parametrize("figure", ["downloadMbps", "uploadMbps", "latencyMs"])
async def test_a_test_figure_beyond_any_line_is_400_naming_it_and_records_nothing(phone, visit_id, figure):
    figures = {"downloadMbps": 500, "uploadMbps": 50, "latencyMs": 8, figure: 1e308}
    response = await phone.post(visit_id, "test-result", phone.fact(**figures, customerAccepted=True))

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed"), response.text
    assert figure in response.text
    assert await VisitEvent.count() == 0


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("tech", "/v1/mobile/visits?date=0001-01-01"),
        ("dispatcher", "/v1/technicians/{technician_id}/day?date=9999-12-31"),
        ("auditor", "/v1/review/queue?dateFrom=0001-01-01"),
        ("auditor", "/v1/review/queue?dateTo=9999-12-31"),
        ("auditor", "/v1/review/queue?offset=1000000000000000000000000"),
        ("auditor", "/v1/review/queue?offset=1000001"),
        ("auditor", f"/v1/review/queue?team={'x' * 65}"),
    ],
    ids=[
        "my_day_year_1",
        "technician_day_year_9999",
        "queue_from_year_1",
        "queue_to_year_9999",
        "queue_offset_2_80",
        "queue_offset_past_a_million",
        "queue_team_65_chars",
    ],
)
async def test_query_values_out_of_range_are_400(client, people, as_dispatcher, visit_id, role, path):
    technician_id = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()["technician"]["id"]
    caller = await login(client, getattr(people, role))

    response = await client.get(path.format(technician_id=technician_id), headers=caller)

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed"), response.text


async def test_a_phone_clock_at_the_end_of_the_calendar_is_refused_and_records_nothing(client, phone, visit_id):
    response = await client.post(
        f"/v1/mobile/visits/{visit_id}/notes",
        json=phone.fact(topic="general", text="on site"),
        headers={**phone.auth, "X-Device-Clock": LAST_HOUR_IN_HAWAII},
    )

    assert (response.status_code, response.json()["code"]) == (400, "clock.invalid"), response.text
    assert await VisitEvent.count() == 0


@pytest.mark.parametrize(("role", "path"), [
    ("dispatcher", "/v1/technicians/{technician_id}/day?date=not-a-date"),
    ("tech", "/v1/mobile/visits?date=2030-02-30"),
], ids=["dispatcher_day", "my_day"])
async def test_a_bad_date_is_reported_under_the_query_parameters_name(client, people, as_dispatcher, visit_id, role, path):
    technician_id = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()["technician"]["id"]

    response = await client.get(path.format(technician_id=technician_id), headers=await login(client, getattr(people, role)))

    assert [(d["field"], d["source"]) for d in response.json()["details"]] == [("date", "query")]


@pytest.mark.parametrize(("query", "field"), [
    ("rule=e.reuse.identical", "rule"),
    ("rule=X-NOPE", "rule"),
    ("dateFrom=2030-03-05&dateTo=2030-03-04", "dateFrom"),
], ids=["a_code_not_a_rule_id", "an_unknown_rule_id", "from_after_to"])
async def test_a_queue_filter_that_can_match_nothing_is_400_naming_its_parameter(client, as_auditor, query, field):
    response = await client.get(f"/v1/review/queue?{query}", headers=as_auditor)

    assert (response.status_code, [d["field"] for d in response.json()["details"]]) == (400, [field])


@pytest.mark.parametrize(("role", "path", "field"), [
    ("auditor", "/v1/review/queue?severity=violation&severity=warning", "severity"),
    ("auditor", "/v1/review/queue?technicianId={technician_id}&technicianId={technician_id}", "technicianId"),
    ("tech", "/v1/mobile/visits?date=2030-03-04&date=2030-03-05", "date"),
], ids=["queue_severity", "queue_technician_by_its_api_name", "my_day_date"])
async def test_a_query_parameter_given_twice_is_400_naming_it_not_settled_by_the_last(
    client, people, as_dispatcher, visit_id, role, path, field
):
    """The queue asked for violations and then warnings answered for warnings alone: no violations shown (a probe)."""
    technician_id = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()["technician"]["id"]

    response = await client.get(path.format(technician_id=technician_id), headers=await login(client, getattr(people, role)))

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed")
    assert [(d["field"], d["source"]) for d in response.json()["details"]] == [(field, "query")]


@pytest.mark.parametrize("header", ["X-Device-Clock", "X-Device-Elapsed-Ms", "Authorization"])
async def test_a_header_read_once_given_twice_is_400_naming_it_and_records_nothing(phone, visit_id, header):
    """Two clock readings were settled by the first, silently (a probe): which one the phone meant is a guess."""
    phone.elapsed_ms = 5_000
    sent = phone.headers()
    again = {"X-Device-Clock": (phone.wall() - timedelta(hours=1)).isoformat(), "X-Device-Elapsed-Ms": "1000",
             "Authorization": sent["Authorization"]}[header]
    note = phone.fact(topic="general", text="Customer asked about the bill")

    response = await phone.client.post(f"/v1/mobile/visits/{visit_id}/notes", json=note,
                                        headers=[*sent.items(), (header, again)])

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed"), response.text
    assert [(d["field"], d["source"]) for d in response.json()["details"]] == [(header, "header")]
    assert await VisitEvent.count() == 0


@pytest.mark.parametrize(("role", "path", "field"), [
    ("auditor", "/v1/review/queue?team=%00", "team"),
    ("auditor", "/v1/review/queue?team=north%00east", "team"),
    ("tech", "/v1/mobile/visits?date=2030-03-04%00", "date"),
], ids=["queue_team_nul", "queue_team_nul_inside", "my_day_date_nul"])
async def test_a_nul_in_a_query_value_is_400_naming_it_on_either_engine(client, people, role, path, field):
    """PostgreSQL refused the NUL and SQLite matched nothing with it: one answer for both (a probe)."""
    response = await client.get(path, headers=await login(client, getattr(people, role)))

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed")
    assert [(d["field"], d["source"]) for d in response.json()["details"]] == [(field, "query")]


@pytest.mark.parametrize(
    ("field", "coerced"),
    [("accuracyM", "8.0"), ("mock", 0), ("fixTime", 1_900_000_000)],
    ids=["number_as_text", "flag_as_number", "instant_as_number"],
)
async def test_a_value_of_another_type_than_the_spec_names_is_400_and_records_nothing(phone, visit_id, field, coerced):
    location = {**phone.location(), field: coerced}

    response = await phone.post(visit_id, "arrival", phone.fact(location=location))

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed"), response.text
    assert response.json()["details"][0]["field"] == f"location.{field}"
    assert await VisitEvent.count() == 0


async def test_a_fact_refused_for_its_types_alone_is_refused_in_a_sync_batch_too(phone, visit_id):
    arrival = phone.fact(location={**phone.location(), "accuracyM": "8.0"})
    facts = [{"type": "arrival", "visitId": visit_id, "body": arrival}]

    response = await phone.client.post("/v1/mobile/sync", json={"facts": facts}, headers=phone.headers())

    assert response.json()["receipts"][0]["status"] == "rejected", response.text
    assert await VisitEvent.count() == 0


async def test_a_whole_number_written_as_a_decimal_is_the_integer_it_is_alone_and_in_a_sync(phone, visit_id):
    alone = await phone.post(visit_id, "notes", phone.fact(topic="general", text="on site", deviceElapsedMs=1234.0))
    note = phone.fact(topic="general", text="offline", deviceElapsedMs=1300.0)
    facts = [{"type": "note", "visitId": visit_id, "body": note}]
    synced = await phone.client.post("/v1/mobile/sync", json={"facts": facts}, headers=phone.headers())

    assert alone.status_code == 201, alone.text
    assert synced.json()["receipts"][0]["status"] == "accepted", synced.text
