"""Admins create users (technicians with a staff record); dispatchers list technicians."""

from __future__ import annotations

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
