"""E-REUSE: which look-alikes ingest searches for a cropped copy of a new photo, and how many."""

from __future__ import annotations

import io
from uuid import UUID

from PIL import Image

from fieldsvc.imaging import process_image
from fieldsvc.mobile.photos import Alike, cropped_differences
from fieldsvc.mobile.reuse import CROP_SEARCHES_PER_PHOTO
from tests.pictures import shoe_covers_on

SITE = {"latitude": 31.2304, "longitude": 121.4737}
FIVE_KM_NORTH, NEXT_DOOR = SITE["latitude"] + 0.045, SITE["latitude"] + 0.0002


def encoded(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def look_alike(number: int, latitude: float, miniature: bytes | None) -> Alike:
    """A stored photo the new one matched in outline (number bits apart, upright) at a site at this latitude."""
    other = {"id": UUID(int=number), "reuse_miniature": miniature, "site_latitude": latitude,
             "site_longitude": SITE["longitude"]}
    return Alike(other, identical=False, distance=number, turn=0, fine=40)


async def test_e_reuse_a_crop_is_sought_only_in_the_closest_look_alikes_of_sites_a_kilometre_or_more_away() -> None:
    picture = shoe_covers_on((196, 180, 160), seed=5)
    image = process_image(encoded(picture))
    cut = process_image(encoded(picture.crop((16, 12, 1584, 1188)))).reuse_miniature
    alike = [look_alike(number, FIVE_KM_NORTH, cut) for number in (6, 2, 5, 1)] + [look_alike(0, NEXT_DOOR, cut)]

    found = await cropped_differences(image, SITE, alike)

    assert sorted(other.int for other in found) == [1, 2, 5][:CROP_SEARCHES_PER_PHOTO]
    assert all(difference < 15 for difference in found.values())


async def test_e_reuse_a_look_alike_stored_without_a_miniature_is_not_searched() -> None:
    image = process_image(encoded(shoe_covers_on((196, 180, 160), seed=5)))

    assert await cropped_differences(image, SITE, [look_alike(1, FIVE_KM_NORTH, None)]) == {}
