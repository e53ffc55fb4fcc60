"""Login, tokens, throttling and role guards, through HTTP on both engines."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from fieldsvc.auth.service import token_digest
from fieldsvc.config import Settings
from fieldsvc.tables import AppUser, AuthToken
from tests.conftest import PASSWORD, login


async def test_login_with_username_returns_token_and_identity(client, people):
    response = await client.post("/v1/auth/login", json={"login": people.dispatcher, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["identity"]["role"] == "dispatcher"
    assert body["token"] and body["expiresAt"]


async def test_login_with_staff_number_identifies_the_technician(client, people):
    response = await client.post("/v1/auth/login", json={"login": "T1001", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["identity"]["username"] == people.tech
    assert response.json()["identity"]["technicianId"]


async def test_a_login_typed_in_another_case_identifies_the_same_person(client, people):
    for typed in (people.dispatcher.capitalize(), people.dispatcher.upper(), "t1001"):
        response = await client.post("/v1/auth/login", json={"login": typed, "password": PASSWORD})
        assert response.status_code == 200, typed
    by_staff_number = await client.post("/v1/auth/login", json={"login": "t1001", "password": PASSWORD})
    assert by_staff_number.json()["identity"]["username"] == people.tech


@pytest.mark.parametrize("typed", [str.lower, str.upper], ids=["as-stored", "in-another-case"])
async def test_a_deactivated_account_cannot_log_in_however_its_login_is_typed(client, people, typed):
    deactivated = AppUser.username == people.auditor
    await AppUser.update({AppUser.active: False}).where(deactivated)
    try:
        response = await client.post("/v1/auth/login", json={"login": typed(people.auditor), "password": PASSWORD})
    finally:
        await AppUser.update({AppUser.active: True}).where(deactivated)

    assert (response.status_code, response.json()["code"]) == (401, "auth.bad_credentials")


async def test_wrong_password_is_refused_with_stable_code(client, people):
    response = await client.post("/v1/auth/login", json={"login": people.tech, "password": "wrong-password"})
    assert response.status_code == 401
    assert response.json()["code"] == "auth.bad_credentials"


async def test_unknown_user_gets_the_same_answer_as_wrong_password(client):
    response = await client.post("/v1/auth/login", json={"login": "nobody", "password": "whatever1"})
    assert response.status_code == 401
    assert response.json()["code"] == "auth.bad_credentials"


async def test_repeated_failures_lock_the_login_even_with_the_right_password(client, people):
    for _ in range(5):
        await client.post("/v1/auth/login", json={"login": people.auditor, "password": "nope-nope"})
    response = await client.post("/v1/auth/login", json={"login": people.auditor, "password": PASSWORD})
    assert response.status_code == 429
    assert response.json()["code"] == "auth.throttled"
    assert int(response.headers["Retry-After"]) > 0


async def test_a_lockout_is_logged_naming_the_account_but_never_a_login_no_account_has(client, people, caplog):
    for _ in range(5):
        await client.post("/v1/auth/login", json={"login": people.auditor, "password": "nope-nope"})
        await client.post("/v1/auth/login", json={"login": "hunter2-typed-as-a-name", "password": "nope-nope"})

    said = [record.getMessage() for record in caplog.records if record.name == "fieldsvc.auth"]
    assert len(said) == 2 and any(f"account {people.auditor} (" in line for line in said), said
    assert not any("hunter2" in record.getMessage() for record in caplog.records)


async def test_failures_count_per_account_whether_named_by_username_or_staff_number(client, people):
    for login_as in (people.tech, "T1001", people.tech, "T1001", people.tech):
        await client.post("/v1/auth/login", json={"login": login_as, "password": "nope-nope"})
    response = await client.post("/v1/auth/login", json={"login": "T1001", "password": PASSWORD})
    assert (response.status_code, response.json()["code"]) == (429, "auth.throttled")


async def test_fewer_failures_than_the_limit_do_not_lock(client, people):
    for _ in range(4):
        await client.post("/v1/auth/login", json={"login": people.auditor, "password": "nope-nope"})
    assert (await client.post("/v1/auth/login", json={"login": people.auditor, "password": PASSWORD})).status_code == 200


async def test_wrong_guesses_sent_at_once_are_held_to_the_failure_limit(client, people):
    guesses = [{"login": people.auditor, "password": f"guess-{n}"} for n in range(20)]
    answers = await asyncio.gather(*(client.post("/v1/auth/login", json=guess) for guess in guesses))
    assert sorted(answer.status_code for answer in answers) == [401] * 5 + [429] * 15


async def test_right_passwords_sent_at_once_all_log_in(client, people):
    answers = await asyncio.gather(
        *(client.post("/v1/auth/login", json={"login": people.auditor, "password": PASSWORD}) for _ in range(10))
    )
    assert [answer.status_code for answer in answers] == [200] * 10


async def test_a_right_password_racing_wrong_ones_gets_an_answer_not_an_error(client, people):
    attempts = [{"login": people.auditor, "password": PASSWORD if n % 5 == 0 else "nope-nope"} for n in range(20)]
    answers = await asyncio.gather(*(client.post("/v1/auth/login", json=attempt) for attempt in attempts))
    assert {answer.status_code for answer in answers} <= {200, 401, 429}


async def test_request_without_token_is_401(client):
    response = await client.get("/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["code"] == "auth.required"


async def test_garbage_token_is_401(client):
    response = await client.get("/v1/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401


async def test_logout_revokes_the_token(client, people):
    headers = await login(client, people.tech)
    assert (await client.get("/v1/auth/me", headers=headers)).status_code == 200  # now remembered by the process
    assert (await client.post("/v1/auth/logout", headers=headers)).status_code == 204
    response = await client.get("/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "auth.token_revoked"


async def test_expired_token_is_refused(client, people):
    headers = await login(client, people.tech)
    token = headers["Authorization"].split()[1]
    await AuthToken.update({AuthToken.expires_at: datetime.now(UTC) - timedelta(seconds=1)}).where(
        AuthToken.token_hash == token_digest(token)
    )
    response = await client.get("/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "auth.token_expired"


async def test_a_remembered_token_is_refused_once_it_expires(client, people, clock):
    headers = await login(client, people.tech)
    assert (await client.get("/v1/auth/me", headers=headers)).status_code == 200
    clock.advance(minutes=Settings().token_ttl_minutes)
    response = await client.get("/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "auth.token_expired"


@pytest.mark.parametrize(
    "path", ["/v1/mobile/visits", "/v1/review/queue", "/v1/technicians", "/v1/admin/users"],
)
async def test_options_lists_the_methods_of_any_route_without_a_token(client, path):
    response = await client.options(path)

    assert response.status_code == 204, response.text
    assert response.headers["allow"]


async def test_technician_cannot_create_users(client, as_tech):
    response = await client.post(
        "/v1/admin/users",
        headers=as_tech,
        json={"username": "evil", "password": "password123", "role": "admin", "displayName": "Evil"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "auth.forbidden"


MALFORMED_BODIES = {
    "not json": b"{not json",
    "truncated": b'{"login": "dispatcher", "pass',
    "nested arrays 5000 deep": b"[" * 5000 + b"]" * 5000,
    "nested objects 3000 deep": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "a field nesting objects 600 deep": b'{"login":' + b'{"a":' * 600 + b"1" + b"}" * 601,
    "a number past any float": b'{"login": 1e400}',
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
@pytest.mark.parametrize("path", ["/v1/auth/login", "/v1/work-orders"])
async def test_a_body_that_is_not_json_is_a_400_request_malformed(client, as_dispatcher, path, body):
    headers = {**as_dispatcher, "Content-Type": "application/json"}

    response = await client.post(path, content=body, headers=headers)

    assert (response.status_code, response.json()["code"]) == (400, "request.malformed")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_json_body_labelled_as_something_else_is_415_and_counts_no_failed_login(client, people, content_type):
    body = json.dumps({"login": people.dispatcher, "password": "wrong-password"}).encode()
    headers = {"Content-Type": content_type} if content_type else {}

    for _ in range(6):  # past the failure limit, were they counted
        response = await client.post("/v1/auth/login", content=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (415, "request.not_json")
    right = await client.post("/v1/auth/login", json={"login": people.dispatcher, "password": PASSWORD})
    assert right.status_code == 200


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"])
async def test_a_json_body_labelled_json_in_any_spelling_is_read(client, people, content_type):
    body = json.dumps({"login": people.dispatcher, "password": PASSWORD}).encode()

    response = await client.post("/v1/auth/login", content=body, headers={"Content-Type": content_type})

    assert response.status_code == 200


async def test_a_refused_value_is_repeated_back_cut_short(client, as_dispatcher):
    response = await client.post("/v1/work-orders", json={"kind": "x" * 1_000_000}, headers=as_dispatcher)

    assert response.status_code == 400
    assert len(response.text) < 2_000


async def test_unknown_field_is_refused(client, people):
    response = await client.post("/v1/auth/login", json={"login": people.tech, "password": PASSWORD, "role": "admin"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation.failed"
