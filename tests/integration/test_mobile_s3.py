"""The phone's photos on the S3 backend (a moto server): multipart, presign + confirm, evidence links, outages."""

from __future__ import annotations

import asyncio

import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from fieldsvc.app import create_app
from fieldsvc.config import Settings
from fieldsvc.storage import content_key
from fieldsvc.tables import Photo, VisitEvent
from tests.conftest import FrozenClock, login, quiet, reset, running
from tests.integration.builders import assign, technician_id
from tests.integration.mobile_builders import Phone, assigned_visit, jpeg
from tests.moto_server import MotoS3Server


@dataclass
class S3Service:
    client: httpx.AsyncClient
    clock: FrozenClock
    blobs: object
    moto: MotoS3Server


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3Server]:
    with MotoS3Server() as server:
        yield server


@pytest.fixture
async def s3(app, people, moto, database_url, tmp_path) -> AsyncIterator[S3Service]:
    """A second app whose blob store is S3, sharing the first app's engine (one engine per process, as in serving)."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-of-the-suite",
        deadline_sweep_minutes=10**6,
        blob_backend="s3",
        s3_bucket=f"evidence-{uuid.uuid4().hex[:12]}",  # moto's state is shared by the whole process
        s3_endpoint_url=moto.endpoint_url,
        s3_access_key_id=moto.access_key_id,
        s3_secret_access_key=moto.secret_access_key,
    )
    s3_app = create_app(settings, engine=app.state.ctx.engine)
    clock = FrozenClock(datetime(2030, 3, 4, 1, 0, tzinfo=UTC))
    s3_app.state.ctx.clock = clock
    try:
        async with running(s3_app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=s3_app), base_url="http://fieldsvc.test") as http:
                yield S3Service(http, clock, s3_app.state.ctx.blobs, moto)
    finally:
        moto.start()
        await reset(app)


@pytest.fixture
async def phone_and_visit(s3, people) -> tuple[Phone, str]:
    dispatcher = await login(s3.client, people.dispatcher)
    visit_id = await assigned_visit(s3.client, dispatcher)
    return Phone(s3.client, await login(s3.client, people.tech), s3.clock), visit_id


async def presign(phone: Phone, visit_id: str, data: bytes, **overrides: object) -> httpx.Response:
    body = phone.fact(
        purpose="site_clean", byteSize=len(data), sha256=hashlib.sha256(data).hexdigest(), contentType="image/jpeg"
    )
    return await phone.post(visit_id, "photos/presign", {**body, **overrides})


async def put_object(grant: dict, data: bytes) -> None:
    async with httpx.AsyncClient() as plain:
        response = await plain.request(grant["method"], grant["uploadUrl"], content=data, headers=grant["headers"])
    response.raise_for_status()


async def test_e_image_multipart_upload_stores_original_and_derivatives_in_s3(s3, phone_and_visit):
    phone, visit_id = phone_and_visit
    data = jpeg(21)

    response = await phone.photo(visit_id, "tool_mat", data)

    assert response.status_code == 201, response.text
    sha256 = hashlib.sha256(data).hexdigest()
    assert await s3.blobs.get(content_key(sha256, "original")) == data
    for kind in ("display", "thumb"):
        assert (await s3.blobs.get(content_key(sha256, kind))).startswith(b"\xff\xd8")


async def test_blobs_on_s3_a_presigned_photo_passes_and_its_replaced_original_is_named(s3, phone_and_visit):
    from fieldsvc.evidence.integrity import blob_mismatches

    phone, visit_id = phone_and_visit
    data = jpeg(22)
    grant = (await presign(phone, visit_id, data)).json()
    await put_object(grant, data)
    confirmed = await phone.post(visit_id, f"photos/{grant['photoId']}/confirm", {})
    assert confirmed.status_code == 201, confirmed.text
    assert await blob_mismatches(s3.blobs, lambda n: None) == (1, [])

    await s3.blobs.put(content_key(hashlib.sha256(data).hexdigest(), "original"), jpeg(23), "image/jpeg")

    _, found = await blob_mismatches(s3.blobs, lambda n: None)
    assert [str(mismatch.photo_id) for mismatch in found] == [confirmed.json()["photoId"]]


async def test_presign_upload_and_confirm_accepts_the_photo_once(s3, phone_and_visit):
    phone, visit_id = phone_and_visit
    data = jpeg(22)
    grant = (await presign(phone, visit_id, data)).json()
    assert (await Photo.count(), grant["method"]) == (0, "PUT")  # announced is not evidence yet

    await put_object(grant, data)
    confirmed = await phone.post(visit_id, f"photos/{grant['photoId']}/confirm", {})
    again = await phone.post(visit_id, f"photos/{grant['photoId']}/confirm", {})

    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["photoId"] == grant["photoId"]
    assert confirmed.json()["correctedTime"] == grant["correctedTime"]  # the photo's time is its announcement's
    assert (again.status_code, again.headers["Idempotent-Replay"], again.json()) == (200, "true", confirmed.json())
    photo = await Photo.select().first()
    assert (str(photo["id"]), photo["status"], photo["purpose"]) == (grant["photoId"], "accepted", "site_clean")
    assert await s3.blobs.get(photo["original_key"]) == data
    assert await s3.blobs.head(f"upload/{grant['photoId']}") is None  # the staging object is tidied away


async def test_confirms_racing_for_one_upload_all_answer_with_the_one_photo_recorded(s3, phone_and_visit):
    phone, visit_id = phone_and_visit
    data = jpeg(24)
    grant = (await presign(phone, visit_id, data)).json()
    await put_object(grant, data)
    confirm = f"photos/{grant['photoId']}/confirm"

    async def confirmed() -> httpx.Response:
        # moto's threaded server now and then fails one of a dozen requests at once (werkzeug: "I/O operation on
        # closed file"); the service answers 503 with nothing recorded, and the phone sends the confirm again.
        for _ in range(3):
            answer = await phone.post(visit_id, confirm, {})
            if answer.status_code != 503:
                break
        return answer

    answers = await asyncio.gather(*(confirmed() for _ in range(12)))

    assert sorted(answer.status_code for answer in answers) == [200] * 11 + [201], [
        (a.status_code, a.text) for a in answers if a.status_code not in (200, 201)
    ]
    assert len({answer.json()["photoId"] for answer in answers}) == 1
    assert await Photo.count() == 1


async def test_a_presigned_photo_confirmed_after_the_visit_was_handed_over_is_409_reassigned(s3, phone_and_visit, people):
    phone, visit_id = phone_and_visit
    data = jpeg(24)
    grant = (await presign(phone, visit_id, data)).json()
    await put_object(grant, data)
    dispatcher = await login(s3.client, people.dispatcher)
    other = await technician_id(s3.client, dispatcher, "T1002")
    assert (await assign(s3.client, dispatcher, visit_id, other)).status_code == 200

    refused = await phone.post(visit_id, f"photos/{grant['photoId']}/confirm", {})

    assert (refused.status_code, refused.json()["code"]) == (409, "visit.reassigned")
    assert await Photo.count() == 0


async def test_a_trail_a_photo_confirmed_an_hour_after_its_presign_matches_the_trail(s3, phone_and_visit, app):
    from fieldsvc.trail.records import first_record_mismatch

    phone, visit_id = phone_and_visit
    data = jpeg(25)
    grant = (await presign(phone, visit_id, data)).json()
    await put_object(grant, data)
    s3.clock.advance(hours=1)
    assert (await phone.post(visit_id, f"photos/{grant['photoId']}/confirm", {})).status_code == 201
    await quiet(app)

    assert (await first_record_mismatch(app.state.ctx))[1] is None


async def test_a_trail_a_presigned_photos_software_edited_behind_the_services_back_is_named(s3, phone_and_visit, app):
    from fieldsvc.trail.records import first_record_mismatch

    phone, visit_id = phone_and_visit
    data = jpeg(26)
    grant = (await presign(phone, visit_id, data)).json()
    await put_object(grant, data)
    assert (await phone.post(visit_id, f"photos/{grant['photoId']}/confirm", {})).status_code == 201
    await quiet(app)
    await Photo.update({Photo.software: "Adobe Photoshop 25.0"}).where(Photo.id == grant["photoId"])

    mismatch = (await first_record_mismatch(app.state.ctx))[1]
    assert (mismatch.table, mismatch.row_id) == ("photo", grant["photoId"])


async def test_confirm_before_the_upload_is_refused(phone_and_visit):
    phone, visit_id = phone_and_visit
    grant = (await presign(phone, visit_id, jpeg(23))).json()

    response = await phone.post(visit_id, f"photos/{grant['photoId']}/confirm", {})

    assert (response.status_code, response.json()["code"]) == (409, "upload.not_received")


@pytest.mark.parametrize("lie", ["sha256", "byteSize", "contentType"])
async def test_an_upload_that_is_not_what_was_announced_is_refused_and_nothing_accepted(phone_and_visit, lie):
    phone, visit_id = phone_and_visit
    data, other = jpeg(24), jpeg(25)
    overrides = {
        "sha256": {"sha256": hashlib.sha256(other).hexdigest()},
        "byteSize": {"byteSize": len(data) + 1},
        "contentType": {"contentType": "image/png"},
    }[lie]
    grant = (await presign(phone, visit_id, data, **overrides)).json()
    await put_object(grant, data)

    response = await phone.post(visit_id, f"photos/{grant['photoId']}/confirm", {})

    assert (response.status_code, response.json()["code"]) == (422, "upload.mismatch")
    assert await Photo.count() == 0


async def test_an_unknown_photo_id_cannot_be_confirmed(phone_and_visit):
    phone, visit_id = phone_and_visit

    response = await phone.post(visit_id, f"photos/{uuid.uuid4()}/confirm", {})

    assert (response.status_code, response.json()["code"]) == (404, "photo.not_found")


async def test_an_auditor_link_is_presigned_by_s3(s3, phone_and_visit, people):
    phone, visit_id = phone_and_visit
    data = jpeg(26)
    photo_id = (await phone.photo(visit_id, "after", data)).json()["photoId"]
    auditor = await login(s3.client, people.auditor)

    url = (await s3.client.get(f"/v1/photos/{photo_id}/url", params={"variant": "original"}, headers=auditor)).json()["url"]
    async with httpx.AsyncClient() as plain:
        download = await plain.get(url)

    assert url.startswith(s3.moto.endpoint_url)
    assert (download.status_code, download.content) == (200, data)


async def test_s3_down_is_503_with_retry_after_and_nothing_recorded(s3, phone_and_visit):
    phone, visit_id = phone_and_visit
    assert await s3.blobs.ping()  # the store's client is made: signing a URL needs no request of its own
    s3.moto.stop()

    upload = await phone.photo(visit_id, "before", jpeg(27))
    announced = await presign(phone, visit_id, jpeg(28))

    for response in (upload, announced):
        assert (response.status_code, response.json()["code"]) == (503, "storage.unavailable")
        assert int(response.headers["Retry-After"]) > 0
    assert (await VisitEvent.count(), await Photo.count()) == (0, 0)


async def test_readiness_answers_503_within_its_probe_deadline_while_s3_hangs(s3):
    from fieldsvc.health import READY_PROBE_SECONDS

    s3.moto.hang()
    started = time.monotonic()
    response = await s3.client.get("/health/ready")
    waited = time.monotonic() - started

    assert (response.status_code, response.json()["blobStore"], response.json()["database"]) == (503, False, True)
    assert waited < READY_PROBE_SECONDS + 1  # the store's own timeouts would hold it for 20 s
