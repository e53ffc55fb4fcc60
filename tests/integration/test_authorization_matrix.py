"""Who may do what to whose objects: every route against every role, own and someone else's visit and photo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest

from tests.conftest import login
from tests.integration.mobile_builders import AT_SITE, Phone, assigned_visit, jpeg

ROLES = ("admin", "dispatcher", "auditor", "tech", "other_tech")
OK, BAD_BODY = "ok", "bad_body"  # allowed: a 2xx answer, or a 400 for the deliberately empty body
DENIED, HIDDEN = 403, 404  # refused by role, or someone else's object that must not even be seen to exist


@dataclass(frozen=True)
class Objects:
    visit_id: str
    order_id: str
    photo_id: str
    tech_id: str


Body = Callable[[Phone, Objects], dict[str, Any] | None]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # formatted with the Objects' fields
    expected: dict[str, str | int]  # role -> OK | BAD_BODY | DENIED | HIDDEN
    body: Body = lambda phone, objects: None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def office(dispatcher: str | int, auditor: str | int, admin: str | int | None = None) -> dict[str, str | int]:
    """Expectations of an office route: technicians are refused by role, whoever owns the object."""
    return {"admin": admin or dispatcher, "dispatcher": dispatcher, "auditor": auditor, "tech": DENIED, "other_tech": DENIED}


def phone_route(own: str | int) -> dict[str, str | int]:
    """Expectations of a phone route: only the visit's own technician; office roles are refused by role."""
    return {"admin": DENIED, "dispatcher": DENIED, "auditor": DENIED, "tech": own, "other_tech": HIDDEN}


def arrival(phone: Phone, objects: Objects) -> dict[str, Any]:
    return phone.fact(location=phone.location())


ROUTES = (
    Route("GET", "/v1/work-orders/{order_id}", office(OK, OK)),
    Route("POST", "/v1/work-orders", office(BAD_BODY, DENIED), lambda p, o: {}),
    Route("POST", "/v1/work-orders/{order_id}/visits", office(BAD_BODY, DENIED), lambda p, o: {}),
    Route("POST", "/v1/work-orders/{order_id}/force-close", office(BAD_BODY, DENIED), lambda p, o: {}),
    Route("GET", "/v1/visits/{visit_id}", office(OK, OK)),
    Route("POST", "/v1/visits/{visit_id}/assignment", office(BAD_BODY, DENIED), lambda p, o: {}),
    Route("POST", "/v1/visits/{visit_id}/reschedule", office(BAD_BODY, DENIED), lambda p, o: {}),
    Route("POST", "/v1/visits/{visit_id}/cancel", office(BAD_BODY, DENIED), lambda p, o: {}),
    Route("GET", "/v1/technicians", office(OK, OK)),
    Route("GET", "/v1/technicians/{tech_id}/day?date=2030-03-04", office(OK, DENIED)),
    Route("GET", "/v1/at-risk", office(OK, DENIED)),
    Route("POST", "/v1/admin/users", office(DENIED, DENIED, admin=BAD_BODY), lambda p, o: {}),
    Route("PATCH", "/v1/admin/users/00000000-0000-4000-8000-000000000000", office(DENIED, DENIED, admin=BAD_BODY),
          lambda p, o: {}),
    Route("GET", "/v1/review/queue", office(DENIED, OK, admin=OK)),
    Route("GET", "/v1/review/visits/{visit_id}", office(DENIED, OK, admin=OK)),
    Route("POST", "/v1/review/visits/{visit_id}/decisions", office(DENIED, BAD_BODY, admin=BAD_BODY), lambda p, o: {}),
    Route("GET", "/v1/follow-ups", office(OK, OK)),
    Route("POST", "/v1/follow-ups/00000000-0000-4000-8000-000000000000/resolve", office(BAD_BODY, DENIED),
          lambda p, o: {}),
    Route("GET", "/v1/mobile/visits?date=2030-03-04", {**phone_route(OK), "other_tech": OK}),
    Route("GET", "/v1/mobile/visits/{visit_id}", phone_route(OK)),
    Route("GET", "/v1/mobile/visits/{visit_id}/summary", phone_route(OK)),
    Route("POST", "/v1/mobile/visits/{visit_id}/arrival", phone_route(OK), arrival),
    Route("POST", "/v1/mobile/sync", {**phone_route(OK), "other_tech": OK},
          lambda p, o: {"facts": [{"type": "arrival", "visitId": o.visit_id, "body": arrival(p, o)}]}),
    Route("GET", "/v1/photos/{photo_id}/url?variant=display", {**office(OK, OK), "tech": OK, "other_tech": HIDDEN}),
    Route("GET", "/v1/photos/{photo_id}/url?variant=original",
          {"admin": OK, "dispatcher": DENIED, "auditor": OK, "tech": DENIED, "other_tech": HIDDEN}),
)


def outcome(status: int) -> str | int:
    if 200 <= status < 300:
        return OK
    return BAD_BODY if status == 400 else status


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_authorization_matrix(client, clock, people, as_dispatcher, route):
    phone_of = {role: Phone(client, await login(client, getattr(people, role)), clock) for role in ROLES}
    visit_id = await assigned_visit(client, as_dispatcher)
    photo = await phone_of["tech"].photo(visit_id, "before", jpeg(5))
    assert photo.status_code == 201, photo.text
    detail = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()
    objects = Objects(visit_id, detail["workOrderId"], photo.json()["photoId"], detail["technician"]["id"])
    mismatches = []
    for role in ROLES:
        phone = phone_of[role]
        body = route.body(phone, objects)
        response = await client.request(
            route.method, route.path.format(**objects.__dict__), json=body, headers=phone.headers()
        )
        if outcome(response.status_code) != route.expected[role]:
            mismatches.append((role, route.expected[role], response.status_code, response.text[:200]))
    assert mismatches == []


async def test_no_technician_learns_another_technicians_customer_phone(client, clock, people, as_dispatcher):
    visit_id = await assigned_visit(client, as_dispatcher)
    other = Phone(client, await login(client, people.other_tech), clock)
    answers = [
        await client.get(f"/v1/mobile/visits/{visit_id}", headers=other.headers()),
        await client.get(f"/v1/mobile/visits/{visit_id}/summary", headers=other.headers()),
        await client.get("/v1/mobile/visits", params={"date": "2030-03-04"}, headers=other.headers()),
        await other.post(visit_id, "arrival", other.fact(location=other.location(**AT_SITE))),
    ]
    assert all("13900000000" not in answer.text for answer in answers)
