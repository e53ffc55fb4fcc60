"""E-IMAGE, E-REUSE and V-SIGN at ingest through HTTP: hostile files, reuse across visits, signatures."""

from __future__ import annotations

import json
import random
import struct
from datetime import timedelta
from uuid import uuid4

import httpx
import pytest
from PIL import Image, ImageDraw

from fieldsvc.ink_print import DensityMemory
from fieldsvc.storage import LocalBlobStore
from fieldsvc.tables import Photo, PhotoHashBand, PhotoMatch, Technician, VisitEvent
from tests.conftest import quiet
from tests.integration.builders import assign, book, technician_id
from tests.integration.mobile_builders import (  # noqa: F401 - the phones and visit ids are fixtures
    AGREED,
    Phone,
    assigned_visit,
    camera_exif,
    encoded,
    jpeg,
    other_phone,
    other_visit_id,
    phone,
    picture,
    png_declaring,
    row_counts,
    signature_png,
    visit_id,
)
from tests.pictures import handwritten_name, plain_wall, shoe_covers_on, speed_test_screenshot


async def test_e_image_png_named_jpg_is_accepted_as_png(phone, visit_id):
    response = await phone.upload(visit_id, "photos", phone.fact(purpose="before"), encoded(picture(1), "PNG"), "a.jpg")

    assert response.status_code == 201, response.text
    assert response.json()["contentType"] == "image/png"
    photo = await Photo.select().first()
    assert (photo["content_type"], photo["width"], photo["height"]) == ("image/png", 480, 360)


SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="480" height="360">'
    b'<script>fetch("/v1/auth/me")</script><rect width="480" height="360" fill="grey"/></svg>'
)
# A TIFF header whose first directory claims 65,535 entries and runs off the end after one.
EXIF_DIRECTORY_PAST_THE_END = b"Exif\x00\x00II*\x00" + struct.pack("<IH", 8, 0xFFFF) + b"\x0f\x01\x02\x00" + b"\xff" * 40
# A directory whose Exif sub-directory pointer points back at itself.
EXIF_POINTER_LOOP = b"Exif\x00\x00II*\x00" + struct.pack("<IHHHIII", 8, 1, 0x8769, 4, 1, 8, 8)
EXIF_NOISE = b"Exif\x00\x00MM\x00*" + bytes(range(256)) * 2


async def blob_keys(app) -> set[str]:  # noqa: ANN001
    return {key async for key in app.state.ctx.blobs.list_keys()}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (jpeg(1)[:2000], "image.truncated"),
        (b"", "image.empty"),
        (b"Dear customer, this is not a photo.\n", "image.unsupported_format"),
        (SVG, "image.svg"),
        (png_declaring(20_000, 20_000), "image.decompression_bomb"),
        (png_declaring(7_000, 7_000), "image.too_many_pixels"),
        (encoded(Image.new("RGB", (8, 8), (200, 190, 180))), "image.too_small"),
    ],
    ids=["truncated_jpeg", "zero_bytes", "text_file", "svg", "decompression_bomb", "too_many_pixels", "eight_pixels"],
)
async def test_e_image_hostile_files_are_refused_with_their_own_code_and_leave_nothing(
    app, phone, visit_id, data, code
):
    blobs_before = await blob_keys(app)

    response = await phone.upload(visit_id, "photos", phone.fact(purpose="after"), data)

    assert (response.status_code, response.json()["code"]) == (422, code), response.text
    assert (await VisitEvent.count(), await Photo.count()) == (0, 0)
    assert await blob_keys(app) == blobs_before


@pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")  # Pillow warns about the garbage it skips
@pytest.mark.parametrize(
    "exif", [EXIF_DIRECTORY_PAST_THE_END, EXIF_POINTER_LOOP, EXIF_NOISE], ids=["past_the_end", "pointer_loop", "noise"]
)
async def test_e_image_a_sound_jpeg_with_garbage_exif_is_kept_whole_without_its_exif(app, phone, visit_id, exif):
    response = await phone.upload(visit_id, "photos", phone.fact(purpose="after"), jpeg(8, exif=exif))

    assert response.status_code == 201, response.text
    assert response.json()["capturedAt"] is None
    photo = await Photo.select().first()
    assert (photo["gps_latitude"], photo["camera_make"], photo["software"]) == (None, None, None)
    assert {photo["original_key"], photo["display_key"], photo["thumbnail_key"]} <= await blob_keys(app)
    assert await VisitEvent.count() == 1


async def test_a_local_blob_store_whose_directory_became_a_file_is_503_with_retry_after_and_records_nothing(
    phone, visit_id, app, tmp_path, monkeypatch
):
    broken = tmp_path / "blobs"
    broken.write_bytes(b"not a directory")
    monkeypatch.setattr(app.state.ctx, "blobs", LocalBlobStore(broken))

    response = await phone.photo(visit_id, "before", jpeg(9))

    assert (response.status_code, response.json()["code"]) == (503, "storage.unavailable"), response.text
    assert int(response.headers["Retry-After"]) > 0
    assert (await VisitEvent.count(), await Photo.count()) == (0, 0)


async def test_e_image_a_body_over_the_upload_limit_is_413(phone, visit_id, app):
    too_big = b"\xff" * (app.state.ctx.settings.max_upload_bytes + 128 * 1024)

    response = await phone.upload(visit_id, "photos", phone.fact(purpose="after"), too_big)

    assert (response.status_code, response.json()["code"]) == (413, "request.too_large")
    assert await VisitEvent.count() == 0


async def test_e_image_a_phone_photo_larger_than_the_json_limit_is_accepted(phone, visit_id):
    large = encoded(picture(2, (3000, 2000)), "PNG")
    assert len(large) > 1024 * 1024

    assert (await phone.upload(visit_id, "photos", phone.fact(purpose="after"), large)).status_code == 201


@pytest.mark.parametrize(
    ("meta", "code"),
    [("not json", "upload.meta_invalid"), ('{"purpose": "before"}', "upload.meta_invalid"),
     ("9\u00f8", "upload.meta_invalid")],  # a number, then junk: the typed reading stops at the number's type
)
async def test_bad_multipart_parts_are_400_with_a_code(client, phone, visit_id, meta, code):
    response = await client.post(
        f"/v1/mobile/visits/{visit_id}/photos",
        data={"meta": meta},
        files={"file": ("a.jpg", jpeg(1), "image/jpeg")},
        headers=phone.headers(),
    )

    assert (response.status_code, response.json()["code"]) == (400, code)


async def test_a_meta_part_writing_its_monotonic_time_as_a_whole_float_is_read_like_a_json_body(phone, visit_id):
    meta = {**phone.fact(purpose="after"), "deviceElapsedMs": 1234.0}

    assert (await phone.upload(visit_id, "photos", meta, jpeg(3))).status_code == 201


async def test_a_refused_meta_repeats_no_more_than_200_characters_of_its_value(client, phone, visit_id):
    meta = json.dumps({**phone.fact(), "purpose": "x" * 100_000})
    response = await client.post(
        f"/v1/mobile/visits/{visit_id}/photos", data={"meta": meta}, files={"file": ("a.jpg", jpeg(1), "image/jpeg")},
        headers=phone.headers(),
    )

    assert (response.status_code, response.json()["code"]) == (400, "upload.meta_invalid")
    assert len(response.json()["details"]["reason"]) <= 203


async def test_a_multipart_with_hundreds_of_parts_is_refused_by_its_part_limit_and_leaves_nothing(
    app, client, phone, visit_id
):
    blobs_before = await blob_keys(app)
    padding = {f"part{index}": "x" for index in range(500)}

    response = await client.post(
        f"/v1/mobile/visits/{visit_id}/photos",
        data={"meta": json.dumps(phone.fact(purpose="after")), **padding},
        files={"file": ("a.jpg", jpeg(1), "image/jpeg")},
        headers=phone.headers(),
    )

    assert (response.status_code, response.json()["code"]) == (400, "request.too_many_parts")
    assert (await VisitEvent.count(), await Photo.count()) == (0, 0)
    assert await blob_keys(app) == blobs_before


def form(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart body of (name, filename, content) parts, written byte for byte."""
    body = b""
    for name, filename, content in parts:
        named = f'name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--BB\r\nContent-Disposition: form-data; {named}\r\n\r\n".encode() + content + b"\r\n"
    return body + b"--BB--\r\n"


@pytest.mark.parametrize("where", ["meta", "file_without_filename", "extra_part"])
async def test_a_form_part_without_a_filename_that_is_not_utf8_is_400_malformed_and_leaves_nothing(
    client, phone, visit_id, where
):
    meta = json.dumps(phone.fact(purpose="before")).encode()
    parts = {
        "meta": [("meta", None, b'{"eventId": "\xff"}'), ("file", "a.jpg", jpeg(1))],
        "file_without_filename": [("meta", None, meta), ("file", None, jpeg(1))],
        "extra_part": [("meta", None, meta), ("comment", None, b"caf\xe9"), ("file", "a.jpg", jpeg(1))],
    }[where]
    headers = {**phone.headers(), "Content-Type": "multipart/form-data; boundary=BB"}

    response = await client.post(f"/v1/mobile/visits/{visit_id}/photos", content=form(*parts), headers=headers)

    assert (response.status_code, response.json()["code"]) == (400, "request.malformed")
    assert (await VisitEvent.count(), await Photo.count()) == (0, 0)


async def test_a_multipart_body_cut_off_is_400_malformed(client, phone, visit_id):
    headers = {**phone.headers(), "Content-Type": "multipart/form-data; boundary=BB"}
    cut = form(("meta", None, b"{}"), ("file", "a.jpg", jpeg(1)))[:-40]

    response = await client.post(f"/v1/mobile/visits/{visit_id}/photos", content=cut, headers=headers)

    assert (response.status_code, response.json()["code"]) == (400, "request.malformed")


async def test_a_multipart_without_its_file_part_is_400(client, phone, visit_id):
    response = await client.post(
        f"/v1/mobile/visits/{visit_id}/photos",
        files={"meta": (None, '{"eventId": "x"}')},
        headers=phone.headers(),
    )

    assert response.status_code == 400
    assert response.json()["code"] == "validation.failed"


async def test_a_visit_handed_over_replays_the_old_phones_photo_and_refuses_a_new_one(
    client, as_dispatcher, phone, visit_id
):
    meta, data = phone.fact(purpose="shoe_covers"), jpeg(31)
    original = await phone.upload(visit_id, "photos", meta, data)
    assert (await assign(client, as_dispatcher, visit_id, await technician_id(client, as_dispatcher, "T1002"))).status_code == 200

    replay = await phone.upload(visit_id, "photos", meta, data)
    refused = await phone.photo(visit_id, "tool_mat", jpeg(32))

    assert (replay.status_code, replay.json()) == (200, original.json())
    assert (refused.status_code, refused.json()["code"]) == (409, "visit.reassigned")
    assert await Photo.count() == 1


async def test_e_time_and_e_place_exif_is_kept_with_the_photo(phone, visit_id):
    exif = camera_exif(AGREED.replace(tzinfo=None), latitude=31.2404, longitude=121.4737)  # about 1.1 km north

    response = await phone.upload(visit_id, "photos", phone.fact(purpose="shoe_covers"), jpeg(3, exif=exif))

    assert response.json()["capturedAt"] == "2030-03-04T02:00:00Z"
    photo = await Photo.select().first()
    assert photo["captured_offset_known"] is False
    assert 1_000 < photo["gps_distance_m"] < 1_200
    assert photo["camera_make"] == "Xiaomi"


async def uploaded_slowly(app, phone: Phone, visit_id: str, taking: timedelta) -> httpx.Response:  # noqa: ANN001
    """A shoe-cover photo whose body reaches the service `taking` after its headers (a poor network)."""
    async def slow_body(scope, receive, send):  # noqa: ANN001
        async def slow_receive():  # noqa: ANN202
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body"):
                phone.clock.advance(seconds=taking.total_seconds())
            return message

        await app(scope, slow_receive, send)

    transport = httpx.ASGITransport(app=slow_body)
    async with httpx.AsyncClient(transport=transport, base_url="http://fieldsvc.test") as slow_network:
        slow_phone = Phone(slow_network, phone.auth, phone.clock)
        return await slow_phone.photo(visit_id, "shoe_covers", jpeg(3))


async def test_e_clock_a_slow_upload_is_not_read_as_clock_skew(app, phone, visit_id):
    response = await uploaded_slowly(app, phone, visit_id, timedelta(seconds=40))

    assert response.status_code == 201, response.text
    assert response.json()["clockOffsetMs"] == 0
    event = await VisitEvent.select().where(VisitEvent.kind == "photo").first()
    assert event["corrected_time"] == event["device_time"]


async def test_a_trail_a_photo_uploaded_over_12_minutes_matches_the_trail(app, phone, visit_id):
    from fieldsvc.trail.records import first_record_mismatch

    assert (await uploaded_slowly(app, phone, visit_id, timedelta(minutes=12))).status_code == 201
    await quiet(app)

    assert await first_record_mismatch(app.state.ctx) == (1, None)


async def test_e_reuse_the_same_photo_on_another_visit_is_matched_both_ways(
    phone, other_phone, visit_id, other_visit_id
):
    first = await phone.photo(visit_id, "site_clean", jpeg(4))
    reused = await other_phone.photo(other_visit_id, "site_clean", jpeg(4))

    assert (first.status_code, reused.status_code) == (201, 201)
    matches = await PhotoMatch.select().order_by(PhotoMatch.pair_key)
    assert {(str(m["photo"]), str(m["other_photo"])) for m in matches} == {
        (first.json()["photoId"], reused.json()["photoId"]),
        (reused.json()["photoId"], first.json()["photoId"]),
    }
    assert all(m["identical"] and m["distance"] == 0 for m in matches)


async def reused_and_quiet(phone, other_phone, visit_id: str, other_visit_id: str, app) -> None:  # noqa: ANN001
    assert (await phone.photo(visit_id, "site_clean", jpeg(4))).status_code == 201
    assert (await other_phone.photo(other_visit_id, "site_clean", jpeg(4))).status_code == 201
    assert (await phone.photo(visit_id, "shoe_covers", jpeg(5))).status_code == 201  # matches nothing
    await quiet(app)


async def test_a_trail_a_reused_photos_matches_match_the_trail(phone, other_phone, visit_id, other_visit_id, app):
    from fieldsvc.trail.matches import first_match_mismatch

    await reused_and_quiet(phone, other_phone, visit_id, other_visit_id, app)

    assert await first_match_mismatch(app.state.ctx) == (2, None)


async def match_deleted() -> None:
    await PhotoMatch.delete().where(PhotoMatch.visit == (await PhotoMatch.select(PhotoMatch.visit).first())["visit"])


async def match_made_distant() -> None:
    await PhotoMatch.update({PhotoMatch.identical: False, PhotoMatch.distance: 30}, force=True)


async def match_added_to_the_unmatched_photo() -> None:
    shoes = await Photo.select().where(Photo.purpose == "shoe_covers").first()
    clean = await Photo.select().where(Photo.purpose == "site_clean").first()
    await PhotoMatch.insert(PhotoMatch(
        pair_key=f"{shoes['id']}:{clean['id']}", photo=shoes["id"], visit=shoes["visit"], other_photo=clean["id"],
        other_visit=clean["visit"], distance=0, identical=True, other_first=True,
    ))


async def match_moved_to_another_visit() -> None:
    await PhotoMatch.update({PhotoMatch.visit: PhotoMatch.other_visit}, force=True)


@pytest.mark.parametrize(
    "edit", [match_deleted, match_made_distant, match_added_to_the_unmatched_photo, match_moved_to_another_visit]
)
async def test_a_trail_a_photo_match_edited_behind_the_services_back_is_named(
    phone, other_phone, visit_id, other_visit_id, app, edit
):
    from fieldsvc.trail.matches import first_match_mismatch

    await reused_and_quiet(phone, other_phone, visit_id, other_visit_id, app)
    await edit()

    _, mismatch = await first_match_mismatch(app.state.ctx)
    assert mismatch.table == "photo_match"


async def test_a_trail_a_photo_added_on_a_step_fact_behind_the_services_back_is_named(app, phone, visit_id):
    """A photo row's fact was checked from the fact's side only: one hung on a step fact was the visit's evidence."""
    from fieldsvc.trail.records import first_record_mismatch

    assert (await phone.photo(visit_id, "shoe_covers", jpeg(3))).status_code == 201
    assert (await phone.post(visit_id, "steps", phone.fact(step="V-MAT"))).status_code == 201
    await quiet(app)
    step = await VisitEvent.select(VisitEvent.id).where(VisitEvent.kind == "step").first()
    added = {**await Photo.select().first(), "id": uuid4(), "event": step["id"], "sha256": "f" * 64}
    await Photo.insert(Photo(**added))

    _, mismatch = await first_record_mismatch(app.state.ctx)
    assert (mismatch.table, mismatch.row_id) == ("photo", str(added["id"]))


async def bands_deleted() -> None:
    shoes = await Photo.select(Photo.id).where(Photo.purpose == "shoe_covers").first()
    await PhotoHashBand.delete().where(PhotoHashBand.photo == shoes["id"])


async def band_changed() -> None:
    shoes = await Photo.select(Photo.id).where(Photo.purpose == "shoe_covers").first()
    await PhotoHashBand.update({PhotoHashBand.band_key: PhotoHashBand.band_key + 1}).where(
        PhotoHashBand.photo == shoes["id"]
    )


@pytest.mark.parametrize("edit", [bands_deleted, band_changed])
async def test_a_trail_a_photos_reuse_index_bands_edited_behind_the_services_back_are_named(
    phone, other_phone, visit_id, other_visit_id, app, edit
):
    """Without its bands a photo is found by no later copy of it (E-REUSE)."""
    from fieldsvc.trail.matches import first_match_mismatch

    await reused_and_quiet(phone, other_phone, visit_id, other_visit_id, app)
    await edit()

    _, mismatch = await first_match_mismatch(app.state.ctx)
    shoes = await Photo.select(Photo.id).where(Photo.purpose == "shoe_covers").first()
    assert (mismatch.table, mismatch.row_id) == ("photo_hash_band", str(shoes["id"]))


async def test_e_reuse_a_photo_held_back_on_the_phone_is_still_the_original_when_its_copy_reached_the_service_first(
    client, phone, other_phone, visit_id, other_visit_id, as_auditor
):
    held_back = phone.fact(purpose="site_clean")  # recorded at the visit, sent an hour later (no signal)
    phone.clock.advance(minutes=30)
    copy = await other_phone.photo(other_visit_id, "site_clean", jpeg(4))
    phone.clock.advance(minutes=30)
    original = await phone.upload(visit_id, "photos", held_back, jpeg(4))

    came_first = {str(m["photo"]): m["other_first"] for m in await PhotoMatch.select()}
    assert came_first == {original.json()["photoId"]: False, copy.json()["photoId"]: True}
    for visit, reused in ((visit_id, False), (other_visit_id, True)):
        findings = (await client.get(f"/v1/review/visits/{visit}", headers=as_auditor)).json()["verdict"]["findings"]
        assert ("e.reuse.identical" in {f["code"] for f in findings}) is reused, visit


async def test_e_reuse_a_re_encoded_copy_is_a_near_duplicate(phone, other_phone, visit_id, other_visit_id):
    await phone.photo(visit_id, "after", jpeg(5))
    await other_phone.photo(other_visit_id, "after", encoded(picture(5).resize((400, 300)), "JPEG", quality=35))

    matches = await PhotoMatch.select()
    assert len(matches) == 2
    assert all(not m["identical"] and m["distance"] <= 7 and m["fine_distance"] <= 16 for m in matches)


@pytest.mark.parametrize("turn", [Image.Transpose.ROTATE_90, Image.Transpose.FLIP_LEFT_RIGHT], ids=["turned", "mirrored"])
async def test_e_reuse_a_copy_turned_a_quarter_or_mirrored_is_a_near_duplicate(
    client, phone, other_phone, visit_id, other_visit_id, as_auditor, turn
):
    await phone.photo(visit_id, "after", jpeg(5))
    await other_phone.photo(other_visit_id, "after", encoded(picture(5).transpose(turn), "JPEG", quality=80))

    assert [m["distance"] <= 6 for m in await PhotoMatch.select()] == [True, True]
    evidence = (await client.get(f"/v1/review/visits/{other_visit_id}", headers=as_auditor)).json()
    assert "e.reuse.near_duplicate" in {f["code"] for f in evidence["verdict"]["findings"]}


async def test_e_reuse_two_shoe_cover_photos_alike_in_outline_are_not_reuse(
    client, phone, other_phone, visit_id, other_visit_id, as_auditor
):
    taken = camera_exif(AGREED.replace(tzinfo=None))  # drawn flat as a screen is: the EXIF names the camera
    await phone.photo(
        visit_id, "shoe_covers", encoded(shoe_covers_on((200, 190, 170), seed=7), "JPEG", quality=85, exif=taken)
    )
    await other_phone.photo(
        other_visit_id, "shoe_covers", encoded(shoe_covers_on((160, 160, 165), seed=9), "JPEG", quality=85, exif=taken)
    )

    matches = await PhotoMatch.select()
    assert [(m["distance"] <= 6, m["fine_distance"] > 16) for m in matches] == [(True, True), (True, True)]
    evidence = (await client.get(f"/v1/review/visits/{other_visit_id}", headers=as_auditor)).json()
    assert not [f for f in evidence["verdict"]["findings"] if f["code"].startswith("e.reuse")]


async def test_e_reuse_two_plain_walls_photographed_at_two_visits_are_not_reuse(
    client, phone, other_phone, visit_id, other_visit_id, as_auditor
):
    await phone.photo(visit_id, "site_clean", encoded(plain_wall((236, 232, 222), seed=1), "JPEG", quality=85))
    await other_phone.photo(other_visit_id, "site_clean", encoded(plain_wall((182, 180, 176), seed=2), "JPEG"))

    assert await PhotoMatch.count() == 0
    evidence = (await client.get(f"/v1/review/visits/{other_visit_id}", headers=as_auditor)).json()
    assert not [f for f in evidence["verdict"]["findings"] if f["code"].startswith("e.reuse")]


async def test_e_reuse_two_speed_test_screenshots_of_one_app_are_not_reuse(phone, other_phone, visit_id, other_visit_id):
    first = encoded(speed_test_screenshot(312.4, 48.2, 11), "PNG")
    second = encoded(speed_test_screenshot(305.2, 49.9, 14), "PNG")  # alike to within 4 of 256 fine bits

    await phone.photo(visit_id, "test_result", first)
    await other_phone.photo(other_visit_id, "test_result", second)

    assert await PhotoMatch.count() == 0


async def test_e_reuse_two_speed_test_screenshots_filed_as_other_photos_are_not_reuse(
    phone, other_phone, visit_id, other_visit_id
):
    """Two technicians' screens with other figures were both flagged (a probe)."""
    await phone.photo(visit_id, "other", encoded(speed_test_screenshot(612.9, 71.5, 6), "PNG"))
    await other_phone.photo(other_visit_id, "other", encoded(speed_test_screenshot(88.6, 9.9, 41), "PNG"))

    assert await PhotoMatch.count() == 0


@pytest.mark.parametrize("purpose", ["shoe_covers", "site_clean", "after"])
async def test_e_reuse_a_copy_made_flat_as_a_screen_is_still_a_near_duplicate_as_site_evidence(
    phone, other_phone, visit_id, other_visit_id, purpose
):
    """Upscaled 3x by repeating pixels, without EXIF: two in three neighbours alike, as on a screen (a probe)."""
    await phone.photo(visit_id, purpose, jpeg(5))
    blocky = picture(5).resize((1440, 1080), Image.Resampling.NEAREST)
    await other_phone.photo(other_visit_id, purpose, encoded(blocky, "PNG"))

    assert [(m["identical"], m["distance"] <= 6) for m in await PhotoMatch.select()] == [(False, True)] * 2


async def test_e_reuse_a_photo_stripped_of_its_exif_and_saved_as_png_is_still_a_near_duplicate(
    phone, other_phone, visit_id, other_visit_id
):
    await phone.photo(visit_id, "after", jpeg(5))
    await other_phone.photo(other_visit_id, "after", encoded(picture(5).resize((400, 300)), "PNG"))

    assert [(m["identical"], m["distance"] <= 6) for m in await PhotoMatch.select()] == [(False, True)] * 2


@pytest.mark.parametrize(("first", "again"), [("test_result", "test_result"), ("other", "other")])
async def test_e_reuse_the_same_speed_test_screenshot_file_on_another_visit_is_reuse(
    phone, other_phone, visit_id, other_visit_id, first, again
):
    screenshot = encoded(speed_test_screenshot(312.4, 48.2, 11), "PNG")

    await phone.photo(visit_id, first, screenshot)
    await other_phone.photo(other_visit_id, again, screenshot)

    assert [m["identical"] for m in await PhotoMatch.select()] == [True, True]


async def test_e_reuse_different_pictures_and_the_same_visit_are_no_reuse(phone, other_phone, visit_id, other_visit_id):
    await phone.photo(visit_id, "before", jpeg(6))
    await phone.photo(visit_id, "after", jpeg(6))  # the same visit: not a reuse
    await other_phone.photo(other_visit_id, "before", jpeg(7))

    assert await PhotoMatch.count() == 0


def scribble(seed: int) -> bytes:
    """A different signature per seed: ink on white, like every signature."""
    rng = random.Random(seed)
    canvas = Image.new("L", (600, 200), 255)
    ImageDraw.Draw(canvas).line([(x, rng.randrange(40, 160)) for x in range(40, 580, 60)], fill=0, width=4)
    return encoded(canvas, "PNG")


async def sign_both(phone, other_phone, visit_id, other_visit_id, first: bytes, second: bytes) -> None:  # noqa: ANN001
    for who, visit, image in ((phone, visit_id, first), (other_phone, other_visit_id, second)):
        meta = who.fact(signerName="Li Wei", summaryDigest="a" * 64)
        assert (await who.upload(visit, "signature", meta, image, "s.png")).status_code == 201


@pytest.mark.parametrize("signer", [".", "-", "123", "?!"])
async def test_v_sign_a_signer_name_without_a_letter_is_refused_and_nothing_is_recorded(phone, visit_id, signer):
    before = await row_counts()
    meta = phone.fact(signerName=signer, summaryDigest="a" * 64)

    refused = await phone.upload(visit_id, "signature", meta, scribble(1), "s.png")

    assert (refused.status_code, refused.json()["code"]) == (422, "signature.signer_unnamed")
    assert await row_counts() == before


async def test_v_sign_a_one_character_chinese_name_names_the_signer(phone, visit_id):
    meta = phone.fact(signerName="李", summaryDigest="a" * 64)

    assert (await phone.upload(visit_id, "signature", meta, scribble(1), "s.png")).status_code == 201


async def test_e_reuse_different_signatures_are_never_matched(phone, other_phone, visit_id, other_visit_id):
    await sign_both(phone, other_phone, visit_id, other_visit_id, scribble(1), scribble(2))

    assert (await row_counts())["photo_match"] == 0
    assert (await row_counts())["photo_hash_band"] == 0


async def test_v_sign_the_same_signature_file_on_another_visit_is_reuse_on_the_visit_that_sent_it_later(
    client, phone, other_phone, visit_id, other_visit_id, as_auditor
):
    await sign_both(phone, other_phone, visit_id, other_visit_id, scribble(1), scribble(1))

    assert [m["identical"] for m in await PhotoMatch.select()] == [True, True]
    found = {}
    for visit in (visit_id, other_visit_id):
        evidence = (await client.get(f"/v1/review/visits/{visit}", headers=as_auditor)).json()
        found[visit] = "v.sign.reused" in {f["code"] for f in evidence["verdict"]["findings"]}
    assert found == {visit_id: False, other_visit_id: True}


async def signed_twice_by_one_technician(client, as_dispatcher, phone, visit_id, first: bytes, second: bytes) -> str:  # noqa: ANN001
    """The technician's second visit of the day, signed with `second` after `visit_id` was signed with `first`."""
    later_visit = await assigned_visit(client, as_dispatcher, agreed_time=AGREED + timedelta(hours=3))
    for visit, image in ((visit_id, first), (later_visit, second)):
        meta = phone.fact(signerName="Li Wei", summaryDigest="a" * 64)
        assert (await phone.upload(visit, "signature", meta, image, "s.png")).status_code == 201
    return later_visit


async def test_v_sign_a_resized_copy_of_the_technicians_earlier_signature_is_reuse(
    client, as_dispatcher, phone, visit_id, as_auditor
):
    original = handwritten_name(1)
    halved = original.resize((original.width // 2, original.height // 2), Image.Resampling.LANCZOS)

    later = await signed_twice_by_one_technician(
        client, as_dispatcher, phone, visit_id, encoded(original, "PNG"), encoded(halved, "JPEG")
    )

    assert [m["identical"] for m in await PhotoMatch.select()] == [False, False]
    evidence = (await client.get(f"/v1/review/visits/{later}", headers=as_auditor)).json()
    assert "v.sign.reused" in {f["code"] for f in evidence["verdict"]["findings"]}


async def test_v_sign_a_stored_signature_is_measured_again_once_for_all_its_later_copies(
    app, client, as_dispatcher, phone, visit_id, monkeypatch
):
    original = handwritten_name(1)
    copies = [original.resize((original.width * share // 100, original.height * share // 100)) for share in (90, 80)]
    fetched: list[str] = []
    real_get = app.state.ctx.blobs.get

    async def counting_get(key: str) -> bytes:
        fetched.append(key)
        return await real_get(key)

    monkeypatch.setattr(app.state.ctx.blobs, "get", counting_get)
    monkeypatch.setattr(app.state.ctx, "signature_densities", DensityMemory(16))  # none measured by earlier tests
    later = await signed_twice_by_one_technician(
        client, as_dispatcher, phone, visit_id, encoded(original, "PNG"), encoded(copies[0], "PNG")
    )
    last = await assigned_visit(client, as_dispatcher, agreed_time=AGREED + timedelta(hours=6))
    meta = phone.fact(signerName="Li Wei", summaryDigest="a" * 64)
    assert (await phone.upload(last, "signature", meta, encoded(copies[1], "JPEG"), "s.jpg")).status_code == 201

    assert {str(match["visit"]) for match in await PhotoMatch.select(PhotoMatch.visit)} == {visit_id, later, last}
    assert await PhotoMatch.count() == 6  # each of the three a copy of each other, both ways
    assert len(fetched) == len(set(fetched)) == 2  # each stored signature's file read once, not once per later copy


@pytest.mark.parametrize(("person", "pen"), [(1, 5), (18, 16)], ids=["pen", "thick-finger"])
async def test_v_sign_the_same_customer_signing_the_technicians_next_visit_again_is_no_reuse(
    client, as_dispatcher, phone, visit_id, person, pen
):
    # The thick one's strokes lie so close to the first signing's that its print alone took it for a copy (a probe).
    first = encoded(handwritten_name(person, pen=pen), "PNG")
    again = encoded(handwritten_name(person, attempt=1, pen=pen), "PNG")

    await signed_twice_by_one_technician(client, as_dispatcher, phone, visit_id, first, again)

    assert await PhotoMatch.count() == 0


async def signed_by_the_other_technician_after(  # noqa: ANN201
    client, as_dispatcher, phone, other_phone, visit_id, first: bytes, second: bytes, *, same_customer: bool  # noqa: ANN001
):
    """`visit_id` signed with `first`; then the other technician's visit (for the same customer, or another) signed
    with `second`; the other visit's id."""
    if same_customer:
        order_id = (await client.get(f"/v1/visits/{visit_id}", headers=as_dispatcher)).json()["workOrderId"]
        customer_id = (await client.get(f"/v1/work-orders/{order_id}", headers=as_dispatcher)).json()["customer"]["id"]
        body = {"kind": "install", "description": "second line", "customerId": customer_id,
                "site": {"address": "2 Other Rd", "latitude": 31.3, "longitude": 121.6, "locality": "urban"}}
        order = (await client.post("/v1/work-orders", json=body, headers=as_dispatcher)).json()
        booked = await book(client, as_dispatcher, order["id"], AGREED + timedelta(hours=3))
        other_visit = booked.json()["id"]
        tech2 = await technician_id(client, as_dispatcher, "T1002")
        assert (await assign(client, as_dispatcher, other_visit, tech2)).status_code == 200
    else:
        other_visit = await assigned_visit(client, as_dispatcher, "T1002", AGREED + timedelta(hours=3))
    for who, visit, image in ((phone, visit_id, first), (other_phone, other_visit, second)):
        meta = who.fact(signerName="Li Wei", summaryDigest="a" * 64)
        assert (await who.upload(visit, "signature", meta, image, "s.png")).status_code == 201
    return other_visit


def original_and_smaller_copy() -> tuple[bytes, bytes]:
    original = handwritten_name(3)
    smaller = original.resize((original.width * 95 // 100, original.height * 95 // 100), Image.Resampling.LANCZOS)
    return encoded(original, "PNG"), encoded(smaller, "PNG")


async def test_v_sign_a_resized_copy_of_the_customers_signature_from_another_technicians_visit_is_reuse(
    client, as_dispatcher, as_auditor, phone, other_phone, visit_id
):
    later = await signed_by_the_other_technician_after(
        client, as_dispatcher, phone, other_phone, visit_id, *original_and_smaller_copy(), same_customer=True
    )

    evidence = (await client.get(f"/v1/review/visits/{later}", headers=as_auditor)).json()
    assert "v.sign.reused" in {f["code"] for f in evidence["verdict"]["findings"]}


async def test_v_sign_a_resized_copy_of_a_team_colleagues_signature_is_reuse(
    client, as_dispatcher, as_auditor, phone, other_phone, visit_id
):
    await Technician.update({Technician.team: "north"}).where(Technician.staff_number == "T1002")  # tech1's team
    try:
        later = await signed_by_the_other_technician_after(
            client, as_dispatcher, phone, other_phone, visit_id, *original_and_smaller_copy(), same_customer=False
        )
    finally:
        await Technician.update({Technician.team: "south"}).where(Technician.staff_number == "T1002")

    evidence = (await client.get(f"/v1/review/visits/{later}", headers=as_auditor)).json()
    assert "v.sign.reused" in {f["code"] for f in evidence["verdict"]["findings"]}


async def test_v_sign_strokes_alike_are_not_compared_with_another_teams_signature_of_another_customer(
    client, as_dispatcher, phone, other_phone, visit_id
):
    await signed_by_the_other_technician_after(
        client, as_dispatcher, phone, other_phone, visit_id, *original_and_smaller_copy(), same_customer=False
    )

    assert await PhotoMatch.count() == 0  # only the very same file is compared that far


async def test_v_sign_a_digest_mismatch_is_kept_for_the_audit_not_refused(phone, visit_id):
    meta = phone.fact(signerName="Li Wei", summaryDigest="b" * 64)

    response = await phone.upload(visit_id, "signature", meta, signature_png(), "s.png")

    assert response.status_code == 201
    answer = response.json()
    assert answer["summaryDigest"] == "b" * 64 and answer["expectedDigest"] != answer["summaryDigest"]
    event = await VisitEvent.select().output(load_json=True).first()
    assert event["kind"] == "signature"
    assert event["payload"]["summaryDigest"] == "b" * 64
    assert event["result"]["expectedDigest"] == answer["expectedDigest"]
    assert (await Photo.select(Photo.purpose, Photo.ink_coverage).first())["purpose"] == "signature"


async def test_v_sign_a_signature_too_faint_to_be_anyones_is_answered_blank_so_the_phone_can_ask_again(phone, visit_id):
    """A short mark under the minimum ink: kept as evidence, and said at once, not only by the audit (a probe)."""
    pad = Image.new("L", (800, 300), 255)
    ImageDraw.Draw(pad).line((390, 140, 410, 150), fill=0, width=3)
    meta = phone.fact(signerName="Ding", summaryDigest="b" * 64)

    response = await phone.upload(visit_id, "signature", meta, encoded(pad, "PNG"), "s.png")

    assert response.status_code == 201, response.text
    assert (response.json()["blank"], response.json()["inkCoverage"] < 0.002) == (True, True)


async def test_presign_is_refused_on_the_local_backend_and_records_nothing(phone, visit_id):
    body = phone.fact(purpose="before", byteSize=1000, sha256="0" * 64, contentType="image/jpeg")

    response = await phone.post(visit_id, "photos/presign", body)

    assert (response.status_code, response.json()["code"]) == (409, "upload.presign_unavailable")
    assert await VisitEvent.count() == 0


async def test_an_upload_with_two_files_is_400_saying_so_in_the_apis_words(phone, visit_id):
    files = [("file", ("a.jpg", jpeg(11), "image/jpeg")), ("file", ("b.jpg", jpeg(12), "image/jpeg"))]
    response = await phone.client.post(
        f"/v1/mobile/visits/{visit_id}/photos", data={"meta": json.dumps(phone.fact(purpose="before"))}, files=files,
        headers=phone.headers(),
    )

    assert (response.status_code, response.json()["code"]) == (400, "validation.failed"), response.text
    assert "class" not in response.text and "once" in response.json()["details"][0]["message"]
    assert await VisitEvent.count() == 0
