"""`fieldsvc blobs verify`: a photo whose stored original or previews were replaced or removed behind the service's
back is named; the evidence as the service stored it passes."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from fieldsvc.evidence.integrity import blob_mismatches
from fieldsvc.tables import Photo
from tests.integration.mobile_builders import encoded, jpeg, phone, picture, signature_png, visit_id  # noqa: F401


def grey_box_over_a_tenth(image: Image.Image) -> Image.Image:
    """A probe's edit: a tenth of the picture painted over (its dHash moves by a bit, its average colour hardly)."""
    width, height = image.size
    box = (width // 3, height // 3, width * 19 // 30, height * 19 // 30)
    ImageDraw.Draw(image).rectangle(box, fill=(128, 128, 128))
    return image


async def stored(phone, visit_id: str) -> dict:  # noqa: ANN001
    """A shoe-cover photo and a signature as the phone sends them; the photo's row."""
    assert (await phone.photo(visit_id, "shoe_covers", jpeg(3))).status_code == 201
    signed = phone.fact(signerName="Li Wei", summaryDigest="0" * 64)
    assert (await phone.upload(visit_id, "signature", signed, signature_png(), "sign.png")).status_code == 201
    return await Photo.select().where(Photo.purpose == "shoe_covers").first()


async def test_blobs_the_evidence_as_the_service_stored_it_passes(app, phone, visit_id):
    await stored(phone, visit_id)

    assert await blob_mismatches(app.state.ctx.blobs, lambda n: None) == (2, [])


async def test_blobs_a_previews_made_by_another_pillow_version_still_show_the_original(app, phone, visit_id):
    photo = await stored(phone, visit_id)
    preview = picture(3).resize((320, 240))
    blobs = app.state.ctx.blobs
    await blobs.put(photo["thumbnail_key"], encoded(preview, "JPEG", quality=70), "image/jpeg")  # other bytes

    assert await blob_mismatches(blobs, lambda n: None) == (2, [])


@pytest.mark.parametrize(
    ("blob", "replacement", "reason"),
    [
        ("original_key", jpeg(4), "its original's bytes are not the ones received"),
        ("original_key", None, "its original is missing"),
        ("thumbnail_key", encoded(picture(4).resize((320, 240)), "JPEG"), "its thumbnail shows another picture"),
        ("display_key", jpeg(4), "its display preview shows another picture"),
        ("display_key", b"not an image", "its display preview shows another picture"),
        ("display_key", encoded(grey_box_over_a_tenth(picture(3)), "JPEG"), "its display preview shows another"),
        ("display_key", None, "its display preview is missing"),
    ],
)
async def test_blobs_a_photo_blob_replaced_or_removed_behind_the_services_back_is_named(
    app, phone, visit_id, blob, replacement, reason
):
    photo = await stored(phone, visit_id)
    blobs = app.state.ctx.blobs
    if replacement is None:
        await blobs.delete(photo[blob])
    else:
        await blobs.put(photo[blob], replacement, "image/jpeg")

    checked, found = await blob_mismatches(blobs, lambda n: None)

    assert checked == 2 and [(m.photo_id, m.purpose) for m in found] == [(photo["id"], "shoe_covers")]
    assert found[0].reason.startswith(reason)
