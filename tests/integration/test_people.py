"""Admins create users (technicians with a staff record); dispatchers list technicians."""

from __future__ import annotations

import asyncio
from datetime import datetime
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import login
from tests.integration.builders import assign, booked_visit
from tests.integration.mobile_builders import trail_entries

SHANGHAI = ZoneInfo("Asia/Shanghai")
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


async def _new_technician(client, as_admin, number: int) -> dict:
    """A technician of their own (users outlive a test): login `tech<number>` or `T<number>`, password longenough1."""
    body = {**NEW_TECH, "username": f"tech{number}", "technician": {**NEW_TECH["technician"], "staffNumber": f"T{number}"}}
    response = await client.post("/v1/admin/users", json=body, headers=as_admin)
    assert response.status_code == 201, response.text
    return response.json()


async def _set_active(client, as_admin, user_id: str, active: bool):
    return await client.patch(f"/v1/admin/users/{user_id}", json={"active": active}, headers=as_admin)


async def test_a_deactivated_account_cannot_log_in_and_its_open_sessions_end_at_once(client, as_admin):
    user = await _new_technician(client, as_admin, 8102)
    session = await login(client, "tech8102", "longenough1")
    assert (await client.get("/v1/mobile/visits", params={"date": "2030-03-04"}, headers=session)).status_code == 200

    response = await _set_active(client, as_admin, user["id"], False)

    assert response.status_code == 200, response.text
    assert (response.json()["active"], response.json()["technician"]["active"]) == (False, False)
    refused = await client.get("/v1/mobile/visits", params={"date": "2030-03-04"}, headers=session)
    assert refused.status_code == 401
    attempt = await client.post("/v1/auth/login", json={"login": "T8102", "password": "longenough1"})
    assert (attempt.status_code, attempt.json()["code"]) == (401, "auth.bad_credentials")


async def test_an_account_activated_again_logs_in_again_but_its_sessions_from_before_stay_ended(client, as_admin):
    user = await _new_technician(client, as_admin, 8103)
    before = await login(client, "tech8103", "longenough1")
    await _set_active(client, as_admin, user["id"], False)

    response = await _set_active(client, as_admin, user["id"], True)

    assert (response.status_code, response.json()["active"]) == (200, True)
    again = await login(client, "tech8103", "longenough1")
    assert (await client.get("/v1/auth/me", headers=again)).status_code == 200
    assert (await client.get("/v1/auth/me", headers=before)).status_code == 401


async def test_deactivating_an_account_twice_answers_the_same_and_records_one_change(client, as_admin):
    user = await _new_technician(client, as_admin, 8104)
    first = await _set_active(client, as_admin, user["id"], False)
    again = await _set_active(client, as_admin, user["id"], False)
    assert (first.status_code, again.status_code, first.json()) == (200, 200, again.json())
    assert await trail_entries("kind = 'user.active'") == 1


async def test_an_admin_cannot_deactivate_their_own_account(client, as_admin):
    me = (await client.get("/v1/auth/me", headers=as_admin)).json()
    response = await _set_active(client, as_admin, me["userId"], False)
    assert (response.status_code, response.json()["code"]) == (409, "user.own_account")
    assert (await client.get("/v1/technicians", headers=as_admin)).status_code == 200


async def test_deactivating_an_unknown_account_is_a_404(client, as_admin):
    response = await _set_active(client, as_admin, "00000000-0000-4000-8000-000000000000", False)
    assert (response.status_code, response.json()["code"]) == (404, "user.not_found")


async def test_the_technician_list_shows_which_technicians_are_deactivated(client, as_admin):
    user = await _new_technician(client, as_admin, 8105)
    await _set_active(client, as_admin, user["id"], False)
    technicians = (await client.get("/v1/technicians", headers=as_admin)).json()
    active = {t["staffNumber"]: t["active"] for t in technicians}
    assert (active["T8105"], active["T1001"]) == (False, True)


async def test_b_assign_a_deactivated_technician_cannot_be_assigned_and_their_visits_stay_until_reassigned(
    client, as_admin, as_dispatcher
):
    user = await _new_technician(client, as_admin, 8106)
    tech_id = user["technician"]["id"]
    kept = await booked_visit(client, as_dispatcher, datetime(2030, 3, 4, 14, tzinfo=SHANGHAI))
    assert (await assign(client, as_dispatcher, kept["id"], tech_id)).status_code == 200
    await _set_active(client, as_admin, user["id"], False)
    new = await booked_visit(client, as_dispatcher, datetime(2030, 3, 4, 17, tzinfo=SHANGHAI))

    refused = await assign(client, as_dispatcher, new["id"], tech_id)

    assert (refused.status_code, refused.json()["code"]) == (409, "technician.inactive")
    assert (await client.get(f"/v1/visits/{new['id']}", headers=as_dispatcher)).json()["technician"] is None
    assert (await client.get(f"/v1/visits/{kept['id']}", headers=as_dispatcher)).json()["technician"]["id"] == tech_id
    assert (await assign(client, as_dispatcher, kept["id"], tech_id)).status_code == 200  # already theirs: no change


async def _new_admin(client, as_admin, number: int) -> tuple[str, dict[str, str]]:
    body = {"username": f"admin{number}", "password": "longenough1", "role": "admin", "displayName": f"Admin {number}"}
    response = await client.post("/v1/admin/users", json=body, headers=as_admin)
    assert response.status_code == 201, response.text
    return response.json()["id"], await login(client, f"admin{number}", "longenough1")


async def test_two_admins_deactivating_each_other_at_once_leave_one_of_them_active(client, as_admin):
    (first, as_first), (second, as_second) = [await _new_admin(client, as_admin, n) for n in (8201, 8202)]

    answers = await asyncio.gather(
        _set_active(client, as_first, second, False), _set_active(client, as_second, first, False)
    )

    assert sorted(answer.status_code for answer in answers) == [200, 403], [a.text for a in answers]
    refused = next(answer for answer in answers if answer.status_code == 403)
    assert refused.json()["code"] == "auth.account_inactive"
    logins = [await client.post("/v1/auth/login", json={"login": name, "password": "longenough1"})
              for name in ("admin8201", "admin8202")]
    assert sorted(response.status_code for response in logins) == [200, 401]


async def test_a_login_checked_while_its_account_is_deactivated_gets_no_session_that_outlives_it(client, as_admin):
    user = await _new_technician(client, as_admin, 8203)

    logged_in, deactivated = await asyncio.gather(
        client.post("/v1/auth/login", json={"login": "tech8203", "password": "longenough1"}),
        _set_active(client, as_admin, user["id"], False),
    )
    assert deactivated.status_code == 200
    await _set_active(client, as_admin, user["id"], True)

    if logged_in.status_code == 200:  # it won the race: deactivating then ended its session
        session = {"Authorization": f"Bearer {logged_in.json()['token']}"}
        assert (await client.get("/v1/auth/me", headers=session)).status_code == 401
    else:
        assert logged_in.json()["code"] == "auth.bad_credentials"


async def test_an_admin_deactivated_while_their_request_was_on_its_way_creates_no_account(client, as_admin, app):
    from fieldsvc.auth.caller import Caller
    from fieldsvc.people.schemas import CreateUser
    from fieldsvc.people.service import CallerInactive, PeopleService

    admin_id, _ = await _new_admin(client, as_admin, 8204)
    await _set_active(client, as_admin, admin_id, False)
    still_remembered = Caller(UUID(admin_id), "admin8204", "admin", None)  # by a worker that had not yet forgotten them
    body = CreateUser(username="admin8205", password="longenough1", role="admin", display_name="Back door")

    with pytest.raises(CallerInactive):
        await PeopleService(app.state.ctx).create_user(body, still_remembered)


async def test_an_admin_lists_the_accounts_by_role_and_whether_they_may_log_in(client, as_admin):
    names = [f"listed-{uuid4().hex[:8]}-{n}" for n in range(2)]  # accounts outlive a test
    ids = []
    for name in names:
        body = {"username": name, "password": "longenough1", "role": "auditor", "displayName": name.title()}
        ids.append((await client.post("/v1/admin/users", json=body, headers=as_admin)).json()["id"])
    assert (await client.patch(f"/v1/admin/users/{ids[1]}", json={"active": False}, headers=as_admin)).status_code == 200

    active = await client.get("/v1/admin/users", params={"role": "auditor", "active": "true"}, headers=as_admin)
    inactive = await client.get("/v1/admin/users", params={"role": "auditor", "active": "false"}, headers=as_admin)

    assert names[0] in {user["username"] for user in active.json()} and names[1] not in str(active.json())
    assert [user["username"] for user in inactive.json() if user["username"] in names] == [names[1]]
    assert int(active.headers["x-total-count"]) == len(active.json())
    assert {user["role"] for user in active.json()} == {"auditor"}


async def test_only_an_admin_lists_the_accounts(client, as_dispatcher):
    response = await client.get("/v1/admin/users", headers=as_dispatcher)

    assert (response.status_code, response.json()["code"]) == (403, "auth.forbidden")
