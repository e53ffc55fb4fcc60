"""Admins create users (technicians with a staff record); dispatchers list technicians."""

from __future__ import annotations

import asyncio

from tests.conftest import login

NEW_TECH = {
    "username": "tech9", "password": "longenough1", "role": "technician", "displayName": "Tech Nine",
    "technician": {"staffNumber": "T9009", "name": "Tech Nine", "phone": "13800000009", "team": "east"},
}


async def test_admin_creates_a_technician_who_can_log_in_with_the_staff_number(client, as_admin):
    response = await client.post("/v1/admin/users", json=NEW_TECH, headers=as_admin)
    assert response.status_code == 201
    assert response.json()["technician"]["staffNumber"] == "T9009"
    assert await login(client, "T9009", "longenough1")


async def test_duplicate_username_is_a_409(client, as_admin):
    body = {**NEW_TECH, "username": "disp1", "technician": {**NEW_TECH["technician"], "staffNumber": "T9010"}}
    response = await client.post("/v1/admin/users", json=body, headers=as_admin)
    assert response.status_code == 409
    assert response.json()["code"] == "user.username_taken"


async def test_duplicate_staff_number_is_a_409(client, as_admin):
    body = {**NEW_TECH, "username": "tech10", "technician": {**NEW_TECH["technician"], "staffNumber": "T1001"}}
    response = await client.post("/v1/admin/users", json=body, headers=as_admin)
    assert response.status_code == 409
    assert response.json()["code"] == "technician.staff_number_taken"


async def test_a_username_that_is_another_technicians_staff_number_is_a_409(client, as_admin):
    body = {**NEW_TECH, "username": "T1001", "technician": {**NEW_TECH["technician"], "staffNumber": "T9011"}}
    response = await client.post("/v1/admin/users", json=body, headers=as_admin)
    assert (response.status_code, response.json()["code"]) == (409, "user.username_taken")


async def test_a_staff_number_that_is_another_users_username_is_a_409_and_that_user_still_logs_in(client, as_admin):
    body = {**NEW_TECH, "username": "tech12", "technician": {**NEW_TECH["technician"], "staffNumber": "disp1"}}
    response = await client.post("/v1/admin/users", json=body, headers=as_admin)
    assert (response.status_code, response.json()["code"]) == (409, "technician.staff_number_taken")
    assert await login(client, "disp1")


async def test_a_username_differing_from_a_login_in_case_only_is_a_409(client, as_admin):
    for username in ("DISP1", "t1001"):
        body = {**NEW_TECH, "username": username, "technician": {**NEW_TECH["technician"], "staffNumber": "T9014"}}
        response = await client.post("/v1/admin/users", json=body, headers=as_admin)
        assert (response.status_code, response.json()["code"]) == (409, "user.username_taken"), username


async def test_a_staff_number_differing_from_a_login_in_case_only_is_a_409(client, as_admin):
    body = {**NEW_TECH, "username": "tech15", "technician": {**NEW_TECH["technician"], "staffNumber": "Disp1"}}
    response = await client.post("/v1/admin/users", json=body, headers=as_admin)
    assert (response.status_code, response.json()["code"]) == (409, "technician.staff_number_taken")


async def test_a_technician_may_log_in_by_a_username_equal_to_their_own_staff_number(client, as_admin):
    body = {**NEW_TECH, "username": "T9013", "technician": {**NEW_TECH["technician"], "staffNumber": "T9013"}}
    assert (await client.post("/v1/admin/users", json=body, headers=as_admin)).status_code == 201
    assert await login(client, "T9013", "longenough1")


async def test_a_username_and_the_same_staff_number_created_at_once_make_one_account(client, as_admin):
    for round_ in range(8):  # a race: one round alone may not interleave
        login_name = f"W70{round_}"
        dispatcher = {"username": login_name, "password": "longenough1", "role": "dispatcher", "displayName": "W"}
        profile = {**NEW_TECH["technician"], "staffNumber": login_name}
        technician = {**NEW_TECH, "username": f"tech70{round_}", "technician": profile}

        answers = await asyncio.gather(*(
            client.post("/v1/admin/users", json=body, headers=as_admin) for body in (dispatcher, technician)
        ))

        assert sorted(answer.status_code for answer in answers) == [201, 409], login_name


async def test_technician_role_without_profile_is_refused(client, as_admin):
    body = {k: v for k, v in NEW_TECH.items() if k != "technician"}
    response = await client.post("/v1/admin/users", json=body, headers=as_admin)
    assert response.status_code == 422
    assert response.json()["code"] == "user.technician_profile"


async def test_short_password_is_refused(client, as_admin):
    response = await client.post("/v1/admin/users", json={**NEW_TECH, "password": "short"}, headers=as_admin)
    assert response.status_code == 400


async def test_dispatcher_lists_technicians_of_one_team(client, as_dispatcher):
    response = await client.get("/v1/technicians", params={"team": "south"}, headers=as_dispatcher)
    assert [t["staffNumber"] for t in response.json()] == ["T1002"]
