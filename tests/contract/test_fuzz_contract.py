"""Fuzzing the live app against mobile_api_spec/openapi.json: every operation as every role, no 5xx, nothing undocumented."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fieldsvc.spec import SPEC_PATH
from fieldsvc.tables import AppUser, Technician
from tests.conftest import People, login
from tests.integration.mobile_builders import Phone, assigned_visit, jpeg

# A quick pass in every run; FIELDSVC_FUZZ_EXAMPLES=500 (say) for a long hunt.
EXAMPLES = int(os.environ.get("FIELDSVC_FUZZ_EXAMPLES", "10"))
ROLES = ("dispatcher", "tech", "auditor", "admin")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
LOGOUT = "POST /v1/auth/logout"
SCHEMA = schemathesis.openapi.from_path(SPEC_PATH)


@dataclass(frozen=True)
class RealObjects:
    """Ids of objects that exist, so that generated requests also reach past the lookups."""

    path_parameters: dict[str, str]
    device_clock: str

    def for_operation(self, operation: schemathesis.APIOperation) -> dict[str, str]:
        names = {parameter.name for parameter in operation.path_parameters}
        return {name: value for name, value in self.path_parameters.items() if name in names}


@pytest.fixture
async def real_objects(client, clock, people, as_dispatcher) -> RealObjects:
    """A booked visit assigned to the technician tech1, with one photo, and a signed link to that photo."""
    visit_id = await assigned_visit(client, as_dispatcher)
    phone = Phone(client, await login(client, people.tech), clock)
    photo = await phone.photo(visit_id, "before", jpeg(1))
    assert photo.status_code == 201, photo.text
    photo_id = photo.json()["photoId"]
    detail = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()
    link = await client.get(f"/v1/photos/{photo_id}/url", params={"variant": "display"}, headers=as_dispatcher)
    token = urlsplit(link.json()["url"]).path.rsplit("/", 1)[-1]
    return RealObjects(
        path_parameters={
            "visit_id": visit_id,
            "order_id": detail["workOrderId"],
            "technician_id": detail["technician"]["id"],
            "photo_id": photo_id,
            "token": token,
        },
        device_clock=clock.now.isoformat(),
    )


@pytest.fixture
async def fuzzed_users_removed(people: People) -> AsyncIterator[None]:
    """Users are kept between tests, so those the fuzzer creates as admin must go before the next test.

    Requested before `client`, so it runs after the client's cleanup has removed the rows that refer to them.
    """
    yield
    ours = [people.admin, people.dispatcher, people.auditor, people.tech, people.other_tech]
    kept = await AppUser.select(AppUser.technician).where(AppUser.username.is_in(ours), AppUser.technician.is_not_null())
    await AppUser.delete().where(AppUser.username.not_in(ours))
    await Technician.delete().where(Technician.id.not_in([row["technician"] for row in kept]))


@pytest.mark.parametrize("role", ROLES)
async def test_every_operation_answers_as_documented_and_never_5xx(
    fuzzed_users_removed, client, people, real_objects, role
):
    loop = asyncio.get_running_loop()
    username = getattr(people, role)
    auth = await login(client, username)
    # Logging out revokes the token it is sent with: it gets a token of its own.
    logout_auth = await login(client, username)

    def send(case: schemathesis.Case) -> httpx.Response:
        headers = logout_auth if case.operation.label == LOGOUT else auth
        # Schemathesis serialises the case as `requests` would send it; the bytes go to the app on the test's loop.
        prepared = requests.Request(**case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)).prepare()
        request = client.build_request(prepared.method, prepared.url, headers=dict(prepared.headers), content=prepared.body)
        return asyncio.run_coroutine_threadsafe(client.send(request), loop).result()

    def fuzz(operation: schemathesis.APIOperation) -> None:
        # Valid and invalid requests with random ids, and valid ones on real objects with a sane phone clock: the
        # random ones mostly end at a lookup or the clock check, the real ones reach the rules behind them.
        cases = st.one_of(
            operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
            operation.as_strategy(
                schemathesis.GenerationMode.POSITIVE,
                path_parameters=real_objects.for_operation(operation),
                headers={"X-Device-Clock": real_objects.device_clock},
            ),
        )

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=cases)
        def check(case: schemathesis.Case) -> None:
            case.validate_response(send(case), checks=CHECKS)

        check()

    failures: list[str] = []

    def fuzz_all() -> None:
        for result in SCHEMA.get_all_operations():
            operation = result.ok()
            try:
                fuzz(operation)
            except Exception as error:  # noqa: BLE001 - every operation gets its turn; all failures are reported
                failures.append(f"{operation.label}: {error}")

    # Hypothesis drives a synchronous test; it runs in a thread while the app keeps serving on this loop.
    await asyncio.to_thread(fuzz_all)
    assert failures == [], "\n\n".join(failures)
