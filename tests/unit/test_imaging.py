"""Image intake (E-IMAGE and the facts E-TIME, E-PLACE, E-EDIT, E-REUSE, V-SIGN read from it), on images made here."""

from __future__ import annotations

import hashlib
import io
import math
import random
import struct
import warnings
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageDraw, ImageEnhance, ImageFile, ImageOps

from fieldsvc.audit.policy import load_default_policies
from fieldsvc.imaging import (
    ExifFacts,
    ImageLimits,
    ImageRejected,
    perceptual_distance,
    process_image,
)
from tests.pictures import plain_wall, shoe_covers_on, speed_test_screenshot

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
# E-REUSE: how many of the 256 fine bits a copy may differ in under the shipped policies.
FINE_LIMIT = max(policy.reuse_max_fine_distance for policy in load_default_policies())
BLANK_BELOW = min(policy.signature_min_ink_ratio for policy in load_default_policies())
ANY_SIZE = ImageLimits(min_photo_edge=1)  # for what tiny pictures show about something else


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A random picture with a photo's broad shading and hard-edged objects; every seed is a different scene."""
    rng = random.Random(seed)

    def colour() -> tuple[int, int, int]:
        return rng.randrange(256), rng.randrange(256), rng.randrange(256)

    coarse = Image.new("RGB", (8, 6))
    coarse.putdata([colour() for _ in range(8 * 6)])
    picture = coarse.resize(size, Image.Resampling.BICUBIC)
    pen = ImageDraw.Draw(picture)
    width, height = size
    for _ in range(12):
        left, top = rng.randrange(width), rng.randrange(height)
        right, bottom = left + rng.randrange(width // 8, width // 3), top + rng.randrange(height // 8, height // 3)
        pen.ellipse((left, top, right, bottom), fill=colour())
    return picture


def encoded(image: Image.Image, image_format: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def jpeg_with(exif: Image.Exif, image: Image.Image | None = None) -> bytes:
    return encoded(scene(1) if image is None else image, exif=exif)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose pixel data is a few bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def tiff_ifd(offset: int, entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """A little-endian TIFF directory placed at `offset`: (tag, type, count, raw value) entries, values after it."""
    data_offset = offset + 2 + 12 * len(entries) + 4
    table, data = b"", b""
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\x00")
        else:
            table += struct.pack("<HHII", tag, kind, count, data_offset + len(data))
            data += value
    return struct.pack("<H", len(entries)) + table + struct.pack("<I", 0) + data


def decoded(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image


def rejection_code(data: bytes, limits: ImageLimits = ImageLimits()) -> str:
    with pytest.raises(ImageRejected) as rejected:
        process_image(data, limits)
    assert rejected.value.message  # every refusal explains itself to a person
    return rejected.value.code


@pytest.fixture
def decoding_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse_to_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_to_decode)


def signature_canvas(mode: str, background: tuple[int, ...] | str) -> Image.Image:
    return Image.new(mode, (600, 200), background)


def with_strokes(canvas: Image.Image) -> Image.Image:
    pen = ImageDraw.Draw(canvas)
    ink = (20, 20, 60, 255)[: len(canvas.getbands())]
    pen.line([(40, 150), (120, 40), (200, 160), (300, 50), (420, 140), (560, 60)], fill=ink, width=5)
    return canvas


# --- refusals (E-IMAGE) ---


def test_zero_bytes_refused() -> None:
    assert rejection_code(b"") == "image.empty"


def test_over_byte_limit_refused() -> None:
    data = encoded(scene(1))

    assert rejection_code(data, ImageLimits(max_bytes=len(data) - 1)) == "image.too_large"


def test_over_pixel_limit_refused(decoding_forbidden: None) -> None:
    data = encoded(scene(1, (640, 480)))

    assert rejection_code(data, ImageLimits(max_pixels=640 * 480 - 1)) == "image.too_many_pixels"


def test_image_exactly_at_both_limits_is_accepted() -> None:
    data = encoded(scene(1, (640, 480)))

    assert process_image(data, ImageLimits(max_bytes=len(data), max_pixels=640 * 480)).width == 640


def test_decompression_bomb_is_refused_before_decode(decoding_forbidden: None) -> None:
    assert rejection_code(png_declaring(100_000, 100_000)) == "image.decompression_bomb"


def test_size_pillow_only_warns_about_is_refused_as_a_bomb(decoding_forbidden: None) -> None:
    # 10^8 pixels: above Pillow's warning threshold, below the size at which it raises by itself.
    assert rejection_code(png_declaring(100_000, 1_000)) == "image.decompression_bomb"


@pytest.mark.parametrize(
    "svg",
    [
        pytest.param(
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
            id="bare",
        ),
        pytest.param(
            b'\xef\xbb\xbf<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "svg11.dtd">\n'
            b'<!-- drawn --><SVG xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></SVG>',
            id="prolog_doctype_and_script",
        ),
    ],
)
def test_svg_is_refused_as_svg(svg: bytes) -> None:
    assert rejection_code(svg) == "image.svg"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(encoded(scene(1), "GIF"), id="gif"),
        pytest.param(encoded(scene(1), "BMP"), id="bmp"),
        pytest.param(encoded(scene(1), "TIFF"), id="tiff"),
        pytest.param(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", id="pdf"),
        pytest.param(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, id="heic"),
        pytest.param("签名 signature".encode(), id="text"),
    ],
)
def test_formats_other_than_jpeg_png_webp_are_refused(data: bytes) -> None:
    assert rejection_code(data) == "image.unsupported_format"


def test_truncated_jpeg_is_refused() -> None:
    data = encoded(scene(1))

    assert rejection_code(data[: len(data) // 2]) == "image.truncated"


def test_truncated_png_is_refused() -> None:
    data = encoded(scene(1), "PNG")

    assert rejection_code(data[: len(data) // 2]) == "image.truncated"


def test_lenient_truncation_switched_on_elsewhere_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)

    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        process_image(encoded(scene(1)))


@settings(max_examples=150, deadline=None)
@given(
    original=st.sampled_from([encoded(scene(3, (64, 48)), image_format) for image_format in ("JPEG", "PNG", "WEBP")]),
    damage=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
    keep=st.floats(min_value=0.0, max_value=1.0),
)
def test_damaged_bytes_are_refused_or_read_never_crash(
    original: bytes, damage: list[tuple[int, int]], keep: float
) -> None:
    data = bytearray(original[: max(1, int(len(original) * keep))])
    for position, value in damage:
        data[position % len(data)] = value

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the damage it tolerates
        try:
            process_image(bytes(data))
        except ImageRejected:
            pass  # a refusal with a stable code is a right answer; any other exception escaping is the bug


def test_pillow_and_warning_settings_are_left_as_found() -> None:
    filters_before = list(warnings.filters)
    max_pixels_before = Image.MAX_IMAGE_PIXELS

    rejection_code(png_declaring(100_000, 1_000))
    process_image(encoded(scene(1)))

    assert warnings.filters == filters_before
    assert Image.MAX_IMAGE_PIXELS == max_pixels_before
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- what is accepted ---


def test_png_renamed_as_jpeg_is_read_as_png() -> None:
    # Only bytes reach process_image: the content decides, never a file name or a claimed content type.
    result = process_image(encoded(scene(1), "PNG"))

    assert (result.format, result.content_type) == ("PNG", "image/png")


def test_jpeg_is_read_as_jpeg() -> None:
    result = process_image(encoded(scene(1)))

    assert (result.format, result.content_type) == ("JPEG", "image/jpeg")


def test_webp_is_read_as_webp() -> None:
    result = process_image(encoded(scene(1), "WEBP"))

    assert (result.format, result.content_type) == ("WEBP", "image/webp")


def test_multi_picture_jpeg_is_read_as_jpeg() -> None:
    mpo = encoded(scene(1), "MPO", save_all=True, append_images=[scene(2)])

    result = process_image(mpo)

    assert (result.format, result.content_type, result.width) == ("JPEG", "image/jpeg", 640)


def test_hash_and_size_are_of_the_original_bytes() -> None:
    data = encoded(scene(1))

    result = process_image(data)

    assert (result.sha256, result.byte_size) == (hashlib.sha256(data).hexdigest(), len(data))


def test_reported_size_is_the_original_not_the_reduced_decode() -> None:
    result = process_image(encoded(scene(1, (2000, 1500))))

    assert (result.width, result.height) == (2000, 1500)
    assert decoded(result.display_jpeg).size == (1000, 750)  # decoded at 1/2 scale, not enlarged back


def test_previews_fit_their_boxes() -> None:
    result = process_image(encoded(Image.new("L", (2600, 100), 128), "PNG"), ANY_SIZE)

    assert decoded(result.display_jpeg).size == (1280, 49)
    assert decoded(result.thumbnail_jpeg).size == (320, 12)


def test_sixteen_bit_grey_png_keeps_its_tones() -> None:
    gradient = Image.linear_gradient("L").resize((256, 64)).convert("I").point(lambda value: value * 256)

    thumbnail = decoded(process_image(encoded(gradient.convert("I;16"), "PNG"), ANY_SIZE).thumbnail_jpeg).convert("L")

    darkest, lightest = thumbnail.getextrema()
    assert darkest < 20 and lightest > 235


def test_small_images_are_not_enlarged() -> None:
    result = process_image(encoded(scene(1, (100, 80))), ANY_SIZE)

    assert decoded(result.display_jpeg).size == decoded(result.thumbnail_jpeg).size == (100, 80)


def test_orientation_applied_to_dimensions() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored sideways: turn 90 degrees clockwise to view

    result = process_image(jpeg_with(exif, scene(1, (640, 480))))

    assert (result.width, result.height) == (480, 640)


def test_orientation_applied_to_previews() -> None:
    sideways = Image.new("RGB", (640, 480), "blue")
    sideways.paste("red", (0, 0, 320, 480))  # the left half becomes the top once turned clockwise
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6

    thumbnail = decoded(process_image(jpeg_with(exif, sideways)).thumbnail_jpeg).convert("RGB")

    assert thumbnail.size == (240, 320)
    red, _, blue = thumbnail.getpixel((120, 20))
    assert red > 200 and blue < 60
    red, _, blue = thumbnail.getpixel((120, 300))
    assert red < 60 and blue > 200


def test_derivatives_carry_no_exif() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Xiaomi"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:01 10:00:00"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (31.0, 14.0, 24.0)}
    )
    original = encoded(
        scene(1),
        exif=exif,
        comment=b"home of customer 42",
        icc_profile=b"\x00" * 128,
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>',
    )

    result = process_image(original)

    for preview in (decoded(result.thumbnail_jpeg), decoded(result.display_jpeg)):
        assert len(preview.getexif()) == 0
        assert not {"exif", "comment", "icc_profile", "xmp"} & preview.info.keys()


# --- EXIF facts (E-TIME, E-PLACE, E-EDIT) ---


def test_photo_without_exif_has_no_facts() -> None:
    assert process_image(encoded(scene(1))).exif == ExifFacts(None, None, None, None, None, None, None)


def test_camera_and_editing_software_are_read() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "  Xiaomi "
    exif[ExifTags.Base.Model] = "Redmi Note 12"
    exif[ExifTags.Base.Software] = "Adobe Photoshop 25.0\x00\x00"

    facts = process_image(jpeg_with(exif)).exif

    assert (facts.make, facts.model, facts.software) == ("Xiaomi", "Redmi Note 12", "Adobe Photoshop 25.0")


def test_an_editor_naming_itself_only_as_the_processing_software_is_read_beside_the_camera() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Software] = "HDR+ 1.0.540104767zd"
    exif[ExifTags.Base.ProcessingSoftware] = "Snapseed"

    assert process_image(jpeg_with(exif)).exif.software == "HDR+ 1.0.540104767zd / Snapseed"


def test_a_program_name_written_as_utf_16_into_the_ascii_tag_is_read_as_its_letters() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.ProcessingSoftware] = "M\x00e\x00i\x00t\x00u\x00"

    assert process_image(jpeg_with(exif)).exif.software == "Meitu"


def test_a_capture_time_in_year_1_is_no_capture_time_whatever_offset_reads_it() -> None:
    exif = camera_exif_with_gps_clock("0001:01:01 00:00:00", "0001:01:01", (0.0, 0.0, 0.0))

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_at_utc(SHANGHAI, timezone.utc, datetime(2026, 12, 6, tzinfo=timezone.utc)) is None
    assert facts.captured_at_utc(ZoneInfo("America/Los_Angeles")) is None


def test_exif_gps_south_west_is_negative() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "S",
            ExifTags.GPS.GPSLatitude: (33.0, 52.0, 4.8),
            ExifTags.GPS.GPSLongitudeRef: "W",
            ExifTags.GPS.GPSLongitude: (70.0, 30.0, 0.0),
        }
    )

    facts = process_image(jpeg_with(exif)).exif

    assert facts.gps_latitude == pytest.approx(-(33 + 52 / 60 + 4.8 / 3600))
    assert facts.gps_longitude == pytest.approx(-70.5)


def test_exif_gps_north_east_is_positive() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (31.0, 14.0, 24.0),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: (121.0, 28.0, 12.0),
        }
    )

    facts = process_image(jpeg_with(exif)).exif

    assert (facts.gps_latitude, facts.gps_longitude) == (pytest.approx(31.24), pytest.approx(121.47))


def test_gps_zero_zero_is_treated_as_absent() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (0.0, 0.0, 0.0),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: (0.0, 0.0, 0.0),
        }
    )

    facts = process_image(jpeg_with(exif)).exif

    assert (facts.gps_latitude, facts.gps_longitude) == (None, None)


def test_capture_time_uses_offset_when_present() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif).update(
        {ExifTags.Base.DateTimeOriginal: "2024:05:01 10:00:00", ExifTags.Base.OffsetTimeOriginal: "+08:00"}
    )

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_at_local == datetime(2024, 5, 1, 10, 0, 0)
    assert facts.captured_utc_offset == timedelta(hours=8)
    assert facts.captured_at_utc(NEW_YORK) == datetime(2024, 5, 1, 2, 0, 0, tzinfo=timezone.utc)


def test_capture_time_falls_back_to_site_zone() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:01 10:00:00"

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_utc_offset is None
    assert facts.captured_at_utc(SHANGHAI) == datetime(2024, 5, 1, 2, 0, 0, tzinfo=timezone.utc)
    assert facts.captured_at_utc(NEW_YORK) == datetime(2024, 5, 1, 14, 0, 0, tzinfo=timezone.utc)


def camera_exif_with_gps_clock(local: str, gps_date: str, gps_time: tuple[float, float, float]) -> Image.Exif:
    """A camera writing its local time without an offset, and its GPS fix's date and time (UTC)."""
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = local
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({ExifTags.GPS.GPSDateStamp: gps_date, ExifTags.GPS.GPSTimeStamp: gps_time})
    return exif


def test_capture_time_without_offset_is_read_on_the_cameras_clock_told_by_its_gps_fix() -> None:
    # A phone on Los Angeles time (UTC-8) at a Denver site (UTC-7): 09:30 on the phone is 17:30 UTC, 10:30 in Denver.
    exif = camera_exif_with_gps_clock("2024:12:02 09:30:00", "2024:12:02", (17.0, 29.0, 41.0))

    facts = process_image(jpeg_with(exif)).exif

    assert facts.gps_clock_offset == timedelta(hours=-8)
    read = facts.captured_at_utc(ZoneInfo("America/Denver"), timezone(timedelta(hours=-8)))
    assert read == datetime(2024, 12, 2, 17, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "phone_zone", [timezone(timedelta(hours=8)), timezone.utc], ids=["app-sends-local-time", "app-sends-utc"]
)
def test_capture_time_an_offset_tag_the_gps_clock_and_the_sites_zone_contradict_is_not_believed(
    phone_zone: timezone,
) -> None:
    # Taken 07:00 in Shanghai (23:00 UTC the day before, the fix's time), tagged +05:00 to read as 02:00 UTC.
    exif = camera_exif_with_gps_clock("2024:12:02 07:00:00", "2024:12:01", (23.0, 0.0, 0.0))
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.OffsetTimeOriginal] = "+05:00"

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_at_utc(SHANGHAI, phone_zone) == datetime(2024, 12, 1, 23, tzinfo=timezone.utc)


def test_capture_time_a_right_offset_tag_stands_against_a_gps_time_written_in_local_time() -> None:
    # A camera's firmware writes the GPS time stamp in local time, the app sends UTC: both say zero, by chance.
    exif = camera_exif_with_gps_clock("2024:12:02 10:00:00", "2024:12:02", (10.0, 0.0, 0.0))
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.OffsetTimeOriginal] = "+08:00"

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_at_utc(SHANGHAI, timezone.utc) == datetime(2024, 12, 2, 2, tzinfo=timezone.utc)


def test_capture_time_an_offset_tag_its_gps_clock_bears_out_stands_whatever_the_phones_offset() -> None:
    # A camera on Tokyo time (+09:00) on a phone sending its times in +08:00: its GPS fix agrees with the tag.
    exif = camera_exif_with_gps_clock("2024:12:02 10:00:00", "2024:12:02", (1.0, 0.0, 0.0))
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.OffsetTimeOriginal] = "+09:00"

    facts = process_image(jpeg_with(exif)).exif

    read = facts.captured_at_utc(SHANGHAI, timezone(timedelta(hours=8)))
    assert read == datetime(2024, 12, 2, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("phone_zone", "read"),
    [
        (timezone(timedelta(hours=8)), datetime(2024, 12, 2, 2, tzinfo=timezone.utc)),  # the phone's and the site's
        (timezone.utc, datetime(2024, 12, 2, 7, tzinfo=timezone.utc)),  # an app sending UTC says nothing: the tag
    ],
    ids=["phone-and-site-say-plus-8", "app-sends-utc"],
)
def test_capture_time_without_a_gps_clock_a_tag_the_phones_offset_and_the_sites_zone_contradict_is_not_believed(
    phone_zone: timezone, read: datetime
) -> None:
    # 10:00 on a Shanghai phone at a Shanghai site, tagged +03:00 (to read 5 h later than it was taken).
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif).update(
        {ExifTags.Base.DateTimeOriginal: "2024:12:02 10:00:00", ExifTags.Base.OffsetTimeOriginal: "+03:00"}
    )

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_at_utc(SHANGHAI, phone_zone) == read


def test_the_gps_fixs_own_date_and_time_are_kept_as_utc() -> None:
    exif = camera_exif_with_gps_clock("2024:12:02 09:30:00", "2024:12:02", (15.0, 10.0, 30.0))

    assert process_image(jpeg_with(exif)).exif.gps_fixed_at == datetime(2024, 12, 2, 15, 10, 30, tzinfo=timezone.utc)


def test_capture_time_a_gps_fix_minutes_older_than_the_photo_tells_no_offset() -> None:
    exif = camera_exif_with_gps_clock("2024:12:02 09:30:00", "2024:12:02", (17.0, 10.0, 0.0))  # a fix 20 min old

    facts = process_image(jpeg_with(exif)).exif

    assert facts.gps_clock_offset is None


def test_capture_time_a_gps_fix_an_hour_stale_is_not_taken_against_the_phones_own_offset() -> None:
    # 10:00 on a Shanghai phone at a Shanghai site; the fix is from 01:00 UTC, an hour before the photo.
    exif = camera_exif_with_gps_clock("2024:12:02 10:00:00", "2024:12:02", (1.0, 0.0, 0.0))

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_at_utc(SHANGHAI, timezone(timedelta(hours=8))) == datetime(2024, 12, 2, 2, 0, tzinfo=timezone.utc)


def test_capture_time_without_offset_that_the_site_zone_puts_after_its_fact_is_read_in_the_phones_offset() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:01 10:00:00"  # Beijing time
    urumqi = ZoneInfo("Asia/Urumqi")  # UTC+6, where phones often keep Beijing time (UTC+8)
    received = datetime(2024, 5, 1, 2, 1, tzinfo=timezone.utc)  # uploaded a minute later

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_at_utc(urumqi, timezone(timedelta(hours=8)), received) == datetime(
        2024, 5, 1, 2, 0, 0, tzinfo=timezone.utc
    )


def test_capture_time_the_site_zone_puts_after_its_fact_is_read_on_the_gps_clock_when_the_phone_sends_utc() -> None:
    # A phone on Shanghai time at a Los Angeles site whose app sends its times in UTC: 06:00 on the camera is 22:00 UTC
    # (the GPS fix says so), 14:00 in Los Angeles, 16 h after the photo reached the service.
    exif = camera_exif_with_gps_clock("2024:12:03 06:00:00", "2024:12:02", (21.0, 59.0, 50.0))
    received = datetime(2024, 12, 2, 22, 3, tzinfo=timezone.utc)

    facts = process_image(jpeg_with(exif)).exif

    read = facts.captured_at_utc(ZoneInfo("America/Los_Angeles"), timezone.utc, received)
    assert read == datetime(2024, 12, 2, 22, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("offset_minutes", [-12 * 60, -9 * 60, -40, 14 * 60])
def test_capture_time_an_offset_the_phone_names_never_moves_a_possible_reading(offset_minutes: int) -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:01 09:40:00"  # Shanghai time
    received = datetime(2024, 5, 1, 1, 41, tzinfo=timezone.utc)  # uploaded a minute after it was taken

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_at_utc(SHANGHAI, timezone(timedelta(minutes=offset_minutes)), received) == datetime(
        2024, 5, 1, 1, 40, 0, tzinfo=timezone.utc
    )


def test_capture_time_falls_back_to_file_time_and_its_offset() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.DateTime] = "2024:05:01 10:00:00"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.OffsetTime] = "-03:30"

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_at_utc(SHANGHAI) == datetime(2024, 5, 1, 13, 30, 0, tzinfo=timezone.utc)


def test_capture_time_takes_its_sub_seconds() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif).update(
        {ExifTags.Base.DateTimeOriginal: "2024:05:01 10:00:07", ExifTags.Base.SubsecTimeOriginal: "8"}
    )

    assert process_image(jpeg_with(exif)).exif.captured_at_local == datetime(2024, 5, 1, 10, 0, 7, 800000)


def test_file_time_takes_its_own_sub_seconds() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.DateTime] = "2024:05:01 10:00:07"
    exif.get_ifd(ExifTags.IFD.Exif).update(
        {ExifTags.Base.SubsecTime: "012", ExifTags.Base.SubsecTimeOriginal: "999"}  # the latter is not its fraction
    )

    assert process_image(jpeg_with(exif)).exif.captured_at_local == datetime(2024, 5, 1, 10, 0, 7, 12000)


@pytest.mark.parametrize(
    ("stamp", "fraction", "expected"),
    [
        ("2024:05:01 10:00:07.25", None, datetime(2024, 5, 1, 10, 0, 7, 250000)),  # appended by the writer
        ("2024:05:01 10:00:07", "garbage", datetime(2024, 5, 1, 10, 0, 7)),  # an unreadable fraction costs itself
        ("2024:05:01 10:00:07", "1234567", datetime(2024, 5, 1, 10, 0, 7, 123456)),  # beyond microseconds: cut
    ],
)
def test_capture_time_sub_seconds_in_other_spellings(stamp: str, fraction: str | None, expected: datetime) -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = stamp
    if fraction is not None:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.SubsecTimeOriginal] = fraction

    assert process_image(jpeg_with(exif)).exif.captured_at_local == expected


def test_zero_utc_offset_is_kept() -> None:
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif).update(
        {ExifTags.Base.DateTimeOriginal: "2024:05:01 10:00:00", ExifTags.Base.OffsetTimeOriginal: "+00:00"}
    )

    facts = process_image(jpeg_with(exif)).exif

    assert facts.captured_at_utc(SHANGHAI) == datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)


def test_capture_time_at_the_edge_of_the_calendar_is_unknown() -> None:
    facts = ExifFacts(datetime(1, 1, 1), timedelta(hours=8), None, None, None, None, None)

    assert facts.captured_at_utc(SHANGHAI) is None


def test_garbage_exif_does_not_raise() -> None:
    ascii_, short, long_, rational = 2, 3, 4, 5
    ifd0_entries = 4  # Make, Orientation, Exif pointer, GPS pointer
    exif_at = 8 + 2 + 12 * ifd0_entries + 4
    camera = tiff_ifd(
        exif_at,
        [
            (ExifTags.Base.DateTimeOriginal, ascii_, 20, b"2024:13:45 99:99:99\x00"),
            (ExifTags.Base.OffsetTimeOriginal, rational, 1, struct.pack("<II", 8, 0)),  # a number, not text
        ],
    )
    gps_at = exif_at + len(camera)
    gps = tiff_ifd(
        gps_at,
        [
            (ExifTags.GPS.GPSLatitudeRef, ascii_, 2, b"Q\x00"),
            (ExifTags.GPS.GPSLatitude, rational, 3, struct.pack("<6I", 31, 0, 14, 0, 24, 0)),  # zero denominators
            (ExifTags.GPS.GPSLongitudeRef, short, 1, struct.pack("<H", 69)),
            (ExifTags.GPS.GPSLongitude, rational, 3, struct.pack("<6I", 500, 1, 0, 1, 0, 1)),  # 500 degrees
        ],
    )
    ifd0 = tiff_ifd(
        8,
        [
            (ExifTags.Base.Make, long_, 1, struct.pack("<I", 7)),  # a number, not text
            (ExifTags.Base.Orientation, short, 1, struct.pack("<H", 6)),
            (ExifTags.IFD.Exif, long_, 1, struct.pack("<I", exif_at)),
            (ExifTags.IFD.GPSInfo, long_, 1, struct.pack("<I", gps_at)),
        ],
    )
    raw_exif = b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd0 + camera + gps

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the garbage it skips
        result = process_image(encoded(scene(1), exif=raw_exif))

    assert result.exif == ExifFacts(None, None, None, None, None, None, None)
    assert (result.width, result.height) == (480, 640)  # the readable orientation still counts


@settings(max_examples=150, deadline=None)
@given(
    tail=st.binary(max_size=400), byte_order=st.sampled_from([b"II*\x00\x08\x00\x00\x00", b"MM\x00*\x00\x00\x00\x08"])
)
def test_random_exif_bytes_never_raise(tail: bytes, byte_order: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = process_image(encoded(scene(3, (64, 48)), exif=b"Exif\x00\x00" + byte_order + tail), ANY_SIZE)

    assert {result.width, result.height} == {64, 48}


# --- perceptual hash (E-REUSE) ---


@pytest.mark.parametrize(
    "copy",
    [
        pytest.param(lambda image: encoded(image, quality=35), id="re-encoded at low quality"),
        pytest.param(lambda image: encoded(image.resize((576, 432))), id="resized to 90%"),
        pytest.param(lambda image: encoded(image, "PNG"), id="converted to PNG"),
        pytest.param(lambda image: encoded(image.resize((320, 240)), quality=50), id="halved and re-encoded"),
    ],
)
def test_near_duplicate_has_small_perceptual_distance(copy: Callable[[Image.Image], bytes]) -> None:
    original = process_image(encoded(scene(1), quality=92))

    near_duplicate = process_image(copy(scene(1)))

    assert perceptual_distance(original.perceptual_hash, near_duplicate.perceptual_hash) <= 6


def test_unrelated_image_has_large_perceptual_distance() -> None:
    first, second = process_image(encoded(scene(1))), process_image(encoded(scene(2)))

    assert perceptual_distance(first.perceptual_hash, second.perceptual_hash) > 20


OTHER_ORIENTATIONS = [
    Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270, Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE,
]


@pytest.mark.parametrize("turn", OTHER_ORIENTATIONS, ids=lambda turn: turn.name)
def test_a_turned_or_mirrored_copy_finds_the_original_among_its_turned_hashes(turn: Image.Transpose) -> None:
    original = process_image(encoded(scene(1), quality=92))

    copy = process_image(encoded(scene(1).transpose(turn)))

    assert perceptual_distance(original.perceptual_hash, copy.perceptual_hash) > 6  # the stored hash alone misses it
    assert min(perceptual_distance(original.perceptual_hash, turned) for turned in copy.turned_hashes) <= 6


@pytest.mark.parametrize("turn", OTHER_ORIENTATIONS, ids=lambda turn: turn.name)
def test_a_turned_or_mirrored_copy_is_within_the_fine_limit_in_some_orientation(turn: Image.Transpose) -> None:
    original = process_image(encoded(scene(1), quality=92))

    turned = scene(1).transpose(turn)
    copy = process_image(encoded(turned.resize((turned.width // 2, turned.height // 2))))

    assert min(perceptual_distance(original.fine_hashes[0], fine) for fine in copy.fine_hashes) <= FINE_LIMIT


@pytest.mark.parametrize("image_format", ["PNG", "WEBP", "JPEG"])
def test_a_speed_test_screenshot_is_a_screen(image_format: str) -> None:
    assert process_image(encoded(speed_test_screenshot(312.4, 48.2, 11), image_format)).screen


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_a_camera_picture_without_exif_is_no_screen_however_saved(image_format: str) -> None:
    """A copy of a photo stripped of its EXIF and saved as PNG keeps its sensor noise: still compared by likeness."""
    assert not process_image(encoded(scene(4), image_format)).screen


def test_a_flat_picture_a_camera_names_itself_in_is_no_screen() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Xiaomi"

    assert not process_image(encoded(speed_test_screenshot(312.4, 48.2, 11), exif=exif)).screen


def test_two_shoe_cover_photos_alike_in_outline_differ_in_their_fine_hashes() -> None:
    first = process_image(encoded(shoe_covers_on((200, 190, 170), seed=7), quality=85))
    second = process_image(encoded(shoe_covers_on((160, 160, 165), seed=9), quality=85))

    assert perceptual_distance(first.perceptual_hash, second.perceptual_hash) <= 6  # the coarse hash cannot tell
    assert min(perceptual_distance(first.fine_hashes[0], fine) for fine in second.fine_hashes) > FINE_LIMIT


@pytest.mark.parametrize(
    "copy_of",
    [
        lambda picture: encoded(picture, quality=40),
        lambda picture: encoded(picture.resize((picture.width // 3, picture.height // 3))),
        lambda picture: encoded(ImageEnhance.Brightness(picture).enhance(1.2)),
        lambda picture: encoded(picture, "PNG"),
    ],
    ids=["recompressed", "shrunk", "brightened", "as-png"],
)
def test_a_copy_of_a_shoe_cover_photo_stays_within_the_fine_limit(copy_of: Callable[[Image.Image], bytes]) -> None:
    picture = shoe_covers_on((200, 190, 170), seed=1)
    original = process_image(encoded(picture, quality=85))

    copy = process_image(copy_of(picture))

    assert perceptual_distance(original.fine_hashes[0], copy.fine_hashes[0]) <= FINE_LIMIT


def framed(picture: Image.Image, share: float, colour: str) -> Image.Image:
    """The picture shrunk to `share` of its width inside a flat frame of the same size (a picture in a picture)."""
    inside = picture.resize((round(picture.width * share), round(picture.height * share)))
    frame = Image.new("RGB", picture.size, colour)
    frame.paste(inside, ((picture.width - inside.width) // 2, (picture.height - inside.height) // 2))
    return frame


@pytest.mark.parametrize(
    "copy_of",
    [
        lambda picture: ImageOps.expand(picture, border=32, fill="white"),
        lambda picture: ImageOps.expand(picture, border=190, fill="black"),
        lambda picture: framed(picture, 0.5, "white"),
        lambda picture: ImageOps.pad(picture, (picture.width + 100, picture.height), color="white", centering=(0, 0)),
    ],
    ids=["2%-white-border", "12%-black-border", "half-size-in-a-frame", "bar-on-one-side"],
)
def test_a_copy_with_a_border_or_frame_added_is_hashed_as_the_picture_inside(
    copy_of: Callable[[Image.Image], Image.Image],
) -> None:
    picture = scene(4, (1600, 1200))
    original = process_image(encoded(picture))

    copy = process_image(encoded(copy_of(picture)))

    assert perceptual_distance(original.perceptual_hash, copy.perceptual_hash) <= 6
    assert perceptual_distance(original.fine_hashes[0], copy.fine_hashes[0]) <= FINE_LIMIT


@pytest.mark.parametrize(
    ("colour", "centering", "grown", "quality"),
    [("white", (0, 0), (300, 0), 60), ("black", (1, 1), (0, 220), 60), ("black", (1, 0), (80, 0), 30)],
    ids=["white-bar-on-the-right", "black-bar-on-top", "black-bar-on-the-left-blending-in-jpeg-blocks"],
)
def test_a_bar_added_on_one_side_of_a_photo_whose_own_corner_is_textured_is_trimmed(
    colour: str, centering: tuple[int, int], grown: tuple[int, int], quality: int
) -> None:
    # The tiles fade in and out of the photo's own corner colour: that corner is no frame, the bar's corner still is.
    picture = shoe_covers_on((200, 190, 170), seed=1)
    barred = ImageOps.pad(picture, (picture.width + grown[0], picture.height + grown[1]), color=colour,
                          centering=centering)
    original = process_image(encoded(picture, quality=88))

    copy = process_image(encoded(barred, quality=quality))

    assert perceptual_distance(original.perceptual_hash, copy.perceptual_hash) <= 6
    assert perceptual_distance(original.fine_hashes[0], copy.fine_hashes[0]) <= FINE_LIMIT


def test_a_faint_texture_at_the_edge_is_not_trimmed_as_a_frame() -> None:
    # Floor tiles a few grey levels off the corner's colour: a re-encoded copy must hash as its original does.
    picture = shoe_covers_on((200, 190, 170), seed=7)

    original, copy = process_image(encoded(picture, quality=85)), process_image(encoded(picture, quality=40))

    assert perceptual_distance(original.fine_hashes[0], copy.fine_hashes[0]) <= FINE_LIMIT


def test_plain_walls_have_featureless_hashes_and_scenes_do_not() -> None:
    paints = (((236, 232, 222), 1), ((182, 180, 176), 2))
    walls = [process_image(encoded(plain_wall(paint, seed))) for paint, seed in paints]
    pictured = process_image(encoded(shoe_covers_on((200, 190, 170), seed=1)))

    assert [(wall.detailed, wall.perceptual_hash, set(wall.fine_hashes)) for wall in walls] == [
        (False, "0" * 16, {"0" * 64})
    ] * 2
    assert pictured.detailed and int(pictured.perceptual_hash, 16) != 0


def test_the_fine_hash_is_256_bits_in_8_orientations() -> None:
    fine_hashes = process_image(encoded(scene(1))).fine_hashes

    assert len(fine_hashes) == 8 and all(len(fine) == 64 and int(fine, 16) >= 0 for fine in fine_hashes)


def test_an_unrelated_image_is_far_in_every_orientation() -> None:
    first, second = process_image(encoded(scene(1))), process_image(encoded(scene(2)))

    orientations = (second.perceptual_hash, *second.turned_hashes)
    assert min(perceptual_distance(first.perceptual_hash, turned) for turned in orientations) > 12


def test_perceptual_hash_is_16_hex_characters() -> None:
    perceptual_hash = process_image(encoded(scene(1))).perceptual_hash

    assert len(perceptual_hash) == 16 and int(perceptual_hash, 16) >= 0


def test_perceptual_distance_counts_differing_bits() -> None:
    assert perceptual_distance("0000000000000000", "ffffffffffffffff") == 64
    assert perceptual_distance("00000000000000f0", "0000000000000070") == 1
    assert perceptual_distance("8badf00d8badf00d", "8badf00d8badf00d") == 0


# --- ink (V-SIGN) ---


def ink_of(pad: Image.Image) -> float:
    return process_image(encoded(pad, "PNG"), signature=True).ink_coverage


def test_blank_signature_has_zero_ink() -> None:
    assert ink_of(signature_canvas("RGB", "white")) == 0.0


def test_signature_with_strokes_has_ink() -> None:
    coverage = ink_of(with_strokes(signature_canvas("RGB", "white")))

    assert 0.01 < coverage < 0.2


def scrawl(canvas: Image.Image, box: tuple[int, int, int, int], pen: int, ink: tuple[int, ...] | str = "black") -> None:
    """A handwritten-looking line of loops across the box."""
    left, top, width, height = box
    points = [(left + width * step / 60, top + height * (0.5 + 0.4 * math.sin(step / 3) * math.cos(step / 7)))
              for step in range(61)]
    ImageDraw.Draw(canvas).line(points, fill=ink, width=pen)


def test_a_small_thin_signature_in_a_corner_of_a_large_pad_is_not_blank() -> None:
    pad = Image.new("RGB", (2400, 800), "white")
    scrawl(pad, (1900, 650, 300, 100), pen=2)

    assert ink_of(pad) >= BLANK_BELOW


def test_a_thick_pen_does_not_make_a_signature_count_more() -> None:
    thin, thick = Image.new("RGB", (600, 200), "white"), Image.new("RGB", (600, 200), "white")
    scrawl(thin, (40, 20, 520, 160), pen=3)
    scrawl(thick, (40, 20, 520, 160), pen=20)

    assert ink_of(thick) == pytest.approx(ink_of(thin), rel=0.2)


@pytest.mark.parametrize("mark", ["dot", "tick"])
def test_a_dot_or_a_tick_is_blank(mark: str) -> None:
    pad = signature_canvas("RGB", "white")
    pen = ImageDraw.Draw(pad)
    if mark == "dot":
        pen.ellipse([300, 100, 320, 120], fill="black")
    else:
        pen.line([(290, 100), (300, 110), (320, 88)], fill="black", width=3)

    assert 0 < ink_of(pad) < BLANK_BELOW


@pytest.mark.parametrize(("end", "pen"), [((850, 50), 4), ((850, 260), 1), ((450, 20), 8)],
                         ids=["diagonal", "hairline", "steep"])
def test_one_straight_stroke_struck_across_the_pad_is_blank(end: tuple[int, int], pen: int) -> None:
    pad = Image.new("RGB", (900, 300), "white")
    ImageDraw.Draw(pad).line([(50, 250), end], fill="black", width=pen)

    assert ink_of(pad) == 0.0


@pytest.mark.parametrize(("pen", "end"), [(8, (550, 60)), (14, (550, 60)), (14, (550, 100))],
                         ids=["8px-diagonal", "14px-diagonal", "14px-level"])
def test_one_straight_stroke_drawn_with_a_thick_finger_is_blank(pen: int, end: tuple[int, int]) -> None:
    pad = Image.new("RGB", (600, 200), "white")
    ImageDraw.Draw(pad).line([(50, 150 if end[1] < 100 else 100), end], fill="black", width=pen)

    assert ink_of(pad) == 0.0


def test_one_straight_stroke_drawn_with_a_shaking_hand_is_blank() -> None:
    rng = random.Random(5)
    pad = Image.new("RGB", (600, 200), "white")
    ImageDraw.Draw(pad).line([(50 + 10 * step, 100 + rng.randint(-3, 3)) for step in range(51)], fill="black", width=3)

    assert ink_of(pad) == 0.0


@pytest.mark.parametrize("height", [12, 25], ids=["zigzag-12px", "name-25px"])
def test_a_fast_flat_signature_on_a_wide_pad_is_not_a_straight_stroke(height: int) -> None:
    rng = random.Random(7)
    pad = Image.new("RGB", (900, 400), "white")
    points = [(150 + 12 * step, 200 + rng.randint(-height // 2, height // 2)) for step in range(51)]
    ImageDraw.Draw(pad).line(points, fill="black", width=3)

    assert ink_of(pad) >= BLANK_BELOW


@pytest.mark.parametrize("pen", [10, 14])
def test_a_looped_cursive_with_a_thick_finger_pen_is_not_a_straight_stroke(pen: int) -> None:
    pad = Image.new("RGB", (600, 200), "white")
    points = [(70 + 460 * step / 80, 100 + 30 * math.sin(step / 2.5) + 12 * math.cos(step / 1.3)) for step in range(81)]
    ImageDraw.Draw(pad).line(points, fill="black", width=pen, joint="curve")

    assert ink_of(pad) >= BLANK_BELOW


def test_a_flat_small_signature_is_not_a_straight_stroke() -> None:
    pad = Image.new("RGB", (600, 200), "white")
    scrawl(pad, (40, 90, 520, 20), pen=3)  # written in a band a tenth of the pad high

    assert ink_of(pad) >= BLANK_BELOW


def test_white_strokes_on_a_transparent_pad_are_ink() -> None:
    pad = signature_canvas("RGBA", (0, 0, 0, 0))
    scrawl(pad, (40, 20, 520, 160), pen=3, ink=(255, 255, 255, 255))

    assert ink_of(pad) >= BLANK_BELOW


def test_thin_strokes_on_a_wide_canvas_are_ink() -> None:
    canvas = Image.new("RGB", (2400, 800), "white")
    ImageDraw.Draw(canvas).line([(100, 600), (800, 100), (1500, 700), (2300, 150)], fill="black", width=1)

    assert ink_of(canvas) > 0


def test_transparent_background_is_not_ink() -> None:
    # Black with zero alpha is what most canvases export for "nothing drawn here".
    assert ink_of(signature_canvas("RGBA", (0, 0, 0, 0))) == 0.0


def test_strokes_on_transparent_background_are_ink() -> None:
    coverage = ink_of(with_strokes(signature_canvas("RGBA", (0, 0, 0, 0))))

    assert 0.01 < coverage < 0.2


@pytest.mark.parametrize("colour", ["black", (150, 150, 150), (20, 20, 60)])
def test_a_pad_filled_with_one_colour_has_zero_ink(colour: tuple[int, ...] | str) -> None:
    assert ink_of(signature_canvas("RGB", colour)) == 0.0


def test_light_strokes_on_a_dark_pad_are_ink() -> None:
    canvas = signature_canvas("RGB", "black")
    ImageDraw.Draw(canvas).line([(40, 150), (120, 40), (200, 160), (300, 50)], fill="white", width=5)

    assert BLANK_BELOW < ink_of(canvas) < 0.2


def unevenly_lit_pad() -> Image.Image:
    """A white pad photographed under a lamp: brighter to the right."""
    return Image.linear_gradient("L").rotate(90).resize((600, 200)).point(lambda level: 120 + level * 100 // 255)


def test_uneven_lighting_across_a_blank_pad_is_not_ink() -> None:
    assert ink_of(unevenly_lit_pad().convert("RGB")) == 0.0


def test_strokes_on_an_unevenly_lit_pad_are_ink() -> None:
    pad = unevenly_lit_pad().convert("RGB")
    ImageDraw.Draw(pad).line([(50, 150), (150, 40), (250, 160), (350, 50), (450, 150)], fill="black", width=3)

    assert BLANK_BELOW < ink_of(pad) < 0.2


def test_a_frame_around_a_blank_pad_is_not_ink() -> None:
    pad = signature_canvas("RGB", "white")
    ImageDraw.Draw(pad).rectangle([0, 0, pad.width - 1, pad.height - 1], outline="black", width=2)

    assert ink_of(pad) == 0.0


def test_a_tall_upright_stroke_of_a_signature_drawn_thin_is_ink() -> None:
    name, name_with_a_tall_stroke = signature_canvas("RGB", "white"), signature_canvas("RGB", "white")
    for pad in (name, name_with_a_tall_stroke):
        scrawl(pad, (40, 60, 520, 80), pen=2)
    ImageDraw.Draw(name_with_a_tall_stroke).line([(300, 10), (300, 190)], fill="black", width=2)

    assert ink_of(name_with_a_tall_stroke) > ink_of(name)


def test_a_printed_baseline_across_a_blank_pad_is_not_ink() -> None:
    pad = signature_canvas("RGB", "white")
    ImageDraw.Draw(pad).line([(20, pad.height - 40), (pad.width - 20, pad.height - 40)], fill="black", width=2)

    assert ink_of(pad) == 0.0


@pytest.mark.parametrize("dash", [(8, 16), (2, 8)], ids=["dashed", "dotted"])
def test_a_dashed_or_dotted_line_to_sign_above_is_not_ink(dash: tuple[int, int]) -> None:
    pad = signature_canvas("RGB", "white")
    length, every = dash
    for x in range(20, pad.width - 20, every):
        ImageDraw.Draw(pad).line([(x, 160), (x + length, 160)], fill="black", width=2)

    assert ink_of(pad) < BLANK_BELOW


def test_a_signature_above_a_dotted_line_is_ink() -> None:
    pad = signature_canvas("RGB", "white")
    for x in range(20, pad.width - 20, 8):
        ImageDraw.Draw(pad).line([(x, 160), (x + 2, 160)], fill="black", width=2)
    scrawl(pad, (40, 20, 520, 120), pen=3)

    assert ink_of(pad) >= BLANK_BELOW


def test_ink_is_measured_for_signatures_only() -> None:
    assert process_image(encoded(with_strokes(signature_canvas("RGB", "white")), "PNG"), ANY_SIZE).ink_coverage is None


@pytest.mark.parametrize("size", [(8, 8), (1, 1), (320, 239)])
def test_e_image_a_photo_with_a_side_under_the_minimum_is_refused_as_too_small(size) -> None:  # noqa: ANN001
    with pytest.raises(ImageRejected) as refused:
        process_image(encoded(Image.new("RGB", size, (120, 110, 100))))

    assert refused.value.code == "image.too_small"


@pytest.mark.parametrize("size", [(120, 40), (150, 110), (40, 120)])
def test_e_image_a_signature_pad_may_be_smaller_than_a_photo_and_cropped_to_its_ink(size) -> None:  # noqa: ANN001
    assert process_image(encoded(Image.new("L", size, 255), "PNG"), signature=True).width == size[0]


@pytest.mark.parametrize("size", [(24, 8), (40, 16), (119, 100), (300, 39)])
def test_e_image_a_signature_pad_under_120x40_is_refused_as_too_small(size) -> None:  # noqa: ANN001
    with pytest.raises(ImageRejected) as refused:
        process_image(encoded(Image.new("L", size, 255), "PNG"), signature=True)

    assert refused.value.code == "image.too_small"

