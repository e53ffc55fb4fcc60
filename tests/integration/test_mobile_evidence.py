"""Expiring evidence links on the local backend: who may see which variant, and the signed blob route."""

from __future__ import annotations

import pytest

from tests.integration.mobile_builders import Phone, assigned_visit, encoded, picture


@pytest.fixture
async def photo(client, as_dispatcher, as_tech, clock) -> tuple[str, bytes]:
    """A PNG photo on the technician's visit: its id and original bytes."""
    visit_id = await assigned_visit(client, as_dispatcher)
    original = encoded(picture(11), "PNG")
    response = await Phone(client, as_tech, clock).photo(visit_id, "site_clean", original)
    assert response.status_code == 201, response.text
    return response.json()["photoId"], original


async def link(client, headers: dict[str, str], photo_id: str, variant: str = "display"):
    return await client.get(f"/v1/photos/{photo_id}/url", params={"variant": variant}, headers=headers)


async def test_an_auditor_downloads_the_original_through_the_signed_route(client, as_auditor, photo, clock, app):
    photo_id, original = photo

    answer = (await link(client, as_auditor, photo_id, "original")).json()
    download = await client.get(answer["url"])  # no Authorization: the token is the credential

    assert download.status_code == 200
    assert download.content == original
    assert download.headers["content-type"] == "image/png"
    assert download.headers["x-content-type-options"] == "nosniff"
    ttl = app.state.ctx.settings.evidence_url_ttl_seconds
    assert answer["expiresAt"] == (clock.advance(seconds=ttl)).isoformat().replace("+00:00", "Z")


async def test_a_photos_link_opened_in_a_browser_shows_the_photo_sandboxed_rather_than_downloading_it(
    client, as_auditor, photo
):
    photo_id, _ = photo
    download = await client.get((await link(client, as_auditor, photo_id)).json()["url"])

    assert download.headers["content-disposition"].startswith("inline;")
    assert download.headers["content-security-policy"] == "sandbox"


async def test_display_and_thumbnail_are_jpegs_for_the_office(client, as_dispatcher, photo):
    photo_id, _ = photo
    for variant in ("display", "thumbnail"):
        answer = (await link(client, as_dispatcher, photo_id, variant)).json()
        download = await client.get(answer["url"])
        assert (download.status_code, download.headers["content-type"]) == (200, "image/jpeg")
        assert download.content.startswith(b"\xff\xd8")


@pytest.mark.parametrize("who", ["as_dispatcher", "as_tech"])
async def test_only_auditors_get_the_original_with_its_exif(client, photo, who, request):
    response = await link(client, request.getfixturevalue(who), photo[0], "original")

    assert (response.status_code, response.json()["code"]) == (403, "photo.original_forbidden")


async def test_a_technician_gets_links_to_their_own_photos_only(client, as_tech, as_other_tech, photo):
    own = await link(client, as_tech, photo[0])
    others = await link(client, as_other_tech, photo[0])

    assert own.status_code == 200
    assert (others.status_code, others.json()["code"]) == (404, "photo.not_found")


async def test_an_expired_link_is_refused(client, as_auditor, photo, clock, app):
    url = (await link(client, as_auditor, photo[0])).json()["url"]
    clock.advance(seconds=app.state.ctx.settings.evidence_url_ttl_seconds)

    response = await client.get(url)

    assert (response.status_code, response.json()["code"]) == (403, "blob_url.expired")


async def test_a_tampered_link_is_refused(client, as_auditor, photo):
    url = (await link(client, as_auditor, photo[0])).json()["url"]
    payload, _, mac = url.rpartition("/")[2].partition(".")

    response = await client.get(f"/v1/blobs/{payload}.{mac[::-1]}")

    assert (response.status_code, response.json()["code"]) == (403, "blob_url.invalid")


async def test_an_unknown_photo_is_not_found(client, as_auditor):
    response = await link(client, as_auditor, "00000000-0000-4000-8000-000000000000")

    assert (response.status_code, response.json()["code"]) == (404, "photo.not_found")
