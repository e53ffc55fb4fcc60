"""E-IMAGE: accept only sound JPEG, PNG and WebP uploads and derive previews, EXIF facts and hashes from one decode."""

from __future__ import annotations

import hashlib
import io
import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from PIL import (
    ExifTags, Image, ImageChops, ImageDraw, ImageFile, ImageFilter, ImageOps, ImageStat, UnidentifiedImageError,
)

from fieldsvc.ink_print import ink_density, ink_print, weighted_moments
from fieldsvc.wire import in_calendar

_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# A stored preview re-made by another Pillow version differs in bytes, not in the mean colour of any block of a 16x16
# grid by more than a few levels; a box painted over a part of it does (a probe's grey box over a fifth passed a
# comparison of dHashes).
_ALIKE_GRID = (16, 16)
_ALIKE_LEVELS = 6

# The benchmark allows 1.5x Pillow's own 320 px JPEG thumbnail (a 1/8-scale decode). Decoding a 12 MP photo at 1/2
# scale for a 1280 px preview and then resizing costs about 2x; at 1/4 scale (1000x750 of a 4000x3000 photo) the
# decode itself is the preview. So decode at the smallest scale still this long, and only shrink what exceeds 1280.
_DECODE_LONG_EDGE = 1000
_DISPLAY_LONG_EDGE = 1280
_THUMBNAIL_EDGE = 320
_PREVIEW_JPEG_QUALITY = 85
# Shrink by whole factors (box averaging) until the last bicubic step spans at most this ratio: the trade Pillow's own
# draft thumbnail makes, at half the cost of a single bicubic pass over the whole 1000 px preview.
_REDUCING_GAP = 1.5

# Ink is what stands out from the pad: a pixel whose grey level differs this much from the most common one (on white,
# darker than 200). A pad filled with one colour, dark or light, is blank. It is counted on the display preview, not
# the thumbnail: shrinking a wide canvas 8x fades a thin stroke to near white.
_INK_CONTRAST = 56
_PAD_CELL = 32  # pixels per cell of the pad's own brightness, against which ink is told
# A row (column) inked over this share of the pad's middle three fifths is a line across the pad: solid, dashed or
# dotted ("sign above the dotted line"); the customer's strokes cross a row, they do not fill a quarter of it.
_PAD_LINE_SHARE = 0.25 * 255
_PAD_MIDDLE_MARGIN = 5  # the middle band leaves out a fifth of the pad on each side
_PAD_EDGE_ZONE = 20  # an upright line is the pad's frame only within a twentieth of the width from its side
_PAD_LINE_MIN_THICKNESS = 4  # pixels: a printed line may be this thick, or as thick as the standard pen if more
# Ink is reported as the share of the pad its strokes would cover drawn with a pen this share of the pad's short edge
# wide: a small signature with a thin pen on a large pad is still a signature, a dot or a tick is not, and a thick pen
# does not make a scribble count more.
_STANDARD_PEN_SHARE = 0.01
_LINE_SPREAD_FLOOR = 1.5  # pixels: a hairline drawn straight, jagged by its pixels, still spreads less
# A straight stroke spreads across its direction by 0.29 of its width (0.35 measured, with its anti-aliased edges),
# plus a shaking hand's 1% of its spread along it (a line shaking +-3 px over 500 px). More would take a fast, flat
# zigzag scribble (+-6 px over 600 px) for a line; the flattest name in the tests, written in a band a tenth of the
# pad high, spreads twice what this allows.
_LINE_WIDTH_SPREAD = 0.4
_LINE_SHAKE_SHARE = 0.01

# E-REUSE: a copy with a border or frame added (a picture in a picture) is hashed without it. A margin is trimmed only
# when it is one flat colour to within this many grey levels, as drawn by a program: a camera's wall or sky is not that
# flat. What remains must keep this share of the picture, so a lone object on a flat field stays in its field.
_FRAME_FLATNESS = 10
_FRAME_MIN_KEPT = 0.2
_FRAME_EDGE_STEP = 3 * _FRAME_FLATNESS
_FRAME_EDGE_INSET = 2
_FRAME_BLEND = 1

# E-TIME: how far a camera's EXIF may run ahead of the server's receipt of the photo (the default clock-skew limit;
# ingest reads EXIF before any policy is chosen for the audit).
_CAMERA_AHEAD = timedelta(minutes=2)

# E-REUSE: a picture without detail (a plain wall, lens falloff, a smooth gradient) has hashes that only trace its
# shading, alike for every such picture. Detail is the mean grey-level difference between the reuse miniature and its
# blur: plain walls measure under 1, any scene with objects or text 8 or more. Below the minimum the hashes are all
# zero bits, which the audit reads as featureless (never a near-duplicate); only the very same file is reuse then.
_MIN_DETAIL = 2.0
# E-REUSE: a picture no camera named whose side-by-side pixels are this often exactly alike is a screenshot. Screens
# drawn by apps measured 0.91 to 0.99 (PNG, WebP, JPEG alike); camera-like pictures, smooth ones included, 0.04 to 0.2.
_SCREEN_MIN_FLAT_SHARE = 0.6
_DETAIL_BLUR = 3
_FEATURELESS = "0" * 16
_FEATURELESS_FINE = "0" * 64

_DHASH_WIDTH, _DHASH_HEIGHT = 9, 8
# The fine hash: 16x16 gradients from the reuse miniature. A copy (re-encoded, resized, brightened, turned) stays
# within a few of its 256 bits; a similar but different picture (the same floor, feet a little elsewhere) that the
# coarse 64 bits cannot tell apart differs in 40 or more.
_FINE_DHASH_WIDTH, _FINE_DHASH_HEIGHT = 17, 16
_REUSE_MINIATURE_EDGE = 72
_OTHER_ORIENTATIONS = (
    Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270, Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM, Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE,
)

# EXIF orientations 5 to 8 are quarter turns (some mirrored): the upright image trades width for height.
_QUARTER_TURN_ORIENTATIONS = frozenset({5, 6, 7, 8})

# SVG is XML: a prolog, comments or a doctype may come before the root element, so look a little way in for it.
_SVG_SNIFF_BYTES = 4096
_SVG_ROOT = re.compile(rb"<svg[\s>/]", re.IGNORECASE)
_UTF8_BOM = b"\xef\xbb\xbf"

_UTC_OFFSET = re.compile(r"([+-])([0-9]{2}):([0-5][0-9])")
_APPENDED_FRACTION = re.compile(r"\.([0-9]+)")
_LARGEST_UTC_OFFSET = timedelta(hours=14)
_ZONE_STEP = timedelta(minutes=15)  # UTC offsets come in quarter hours (Nepal +05:45, Chatham +12:45)
_GPS_FIX_WITH_PHOTO = timedelta(minutes=2)

# What Pillow raises on damaged image data: its documented OSError, plus what its parsers let through unwrapped
# (seen by flipping and cutting bytes of JPEG, PNG and WebP files; tests/unit/test_imaging.py keeps doing so).
_DAMAGED_DATA_ERRORS = (OSError, ValueError, SyntaxError)

_T = TypeVar("_T")


class ImageRejected(Exception):
    """An upload this service will not keep as evidence: `code` is stable for programs, `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImageLimits:
    """E-IMAGE limits; the defaults are the standard's 15 MB and 40 MP."""

    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 40_000_000
    # A photo's shorter side: any phone camera takes more; an icon-sized "photo" shows nothing (a probe sent 8x8 ones
    # with a camera's EXIF as the shoe-cover and site-clean photos).
    min_photo_edge: int = 240
    # A signature pad is smaller than a photo, and may be cropped to its ink (a signature library's option), but no
    # finger signs on 40x16 pixels (a probe's "Li" passed V-SIGN).
    min_signature_size: tuple[int, int] = (120, 40)  # longer side, shorter side


EXIF_TEXT_LIMIT = 128


@dataclass(frozen=True)
class ExifFacts:
    """What the photo says about itself (E-TIME, E-PLACE, E-EDIT); every field is None when absent or unreadable."""

    captured_at_local: datetime | None
    captured_utc_offset: timedelta | None
    gps_latitude: float | None
    gps_longitude: float | None
    make: str | None
    model: str | None
    software: str | None
    # The offset the GPS fix's date and time (UTC) tell the camera's clock was on, when the fix is the photo's own.
    gps_clock_offset: timedelta | None = None
    # E-PLACE: when the GPS fix was taken (its date and time, UTC); a camera indoors writes its last fix, maybe old.
    gps_fixed_at: datetime | None = None

    def captured_at_utc(
        self, site_zone: ZoneInfo, phone_zone: tzinfo | None = None, taken_by: datetime | None = None
    ) -> datetime | None:
        captured = self._captured_at_utc(site_zone, phone_zone, taken_by)
        # A camera's year 1 or 9999 is garbage, not evidence: no database or deadline can compute with it.
        return captured if captured is not None and in_calendar(captured) else None

    def _captured_at_utc(
        self, site_zone: ZoneInfo, phone_zone: tzinfo | None, taken_by: datetime | None
    ) -> datetime | None:
        """E-TIME: the capture instant, read in the photo's own offset when it has one, or in the phone's offset when
        the GPS fix's clock tells the same, else in the site's zone. A reading in the site's zone after `taken_by`
        (the latest the photo can have been taken, by a clock the phone's user cannot set) cannot be; when the offset
        the phone sent its fact in (`phone_zone`), or the one its GPS fix's clock tells, reads it in time, the camera
        wrote that local time (Decision: a phone on Beijing time at a site kept on Urumqi time, or at a Los Angeles
        site with an app that sends its times in UTC); the later of such readings is taken. Only an impossible
        reading is re-read, and only ever earlier: no offset a phone names, nor a fact dated back, makes an old or a
        late photo look on time. An offset tag the GPS fix's clock contradicts, agreeing with the site's zone, was
        edited (a photo taken 3 h before the arrival was tagged +05:00 at a +08:00 site to read as on time; probes):
        the two witnesses are read instead. Not the phone's offset: an app sending UTC and a camera writing its GPS
        time in local time (a firmware bug) agree on zero by chance (a probe). Without a GPS clock, a tag that both
        the offset the phone sends its facts in and the site's zone contradict is not the camera's either (a photo
        5 h old tagged +03:00 by a phone sending +08:00 at a +08:00 site read as on time; a probe)."""
        local = self.captured_at_local
        if local is None:
            return None
        offset = self.captured_utc_offset
        gps_offset = self.gps_clock_offset
        phone_offset, site_offset = _offset_at(phone_zone, local), _offset_at(site_zone, local)
        witnessed = phone_offset if phone_offset == site_offset else None  # the phone's facts and the site agree
        if offset is None and gps_offset is not None and phone_offset == gps_offset:
            offset = gps_offset  # two witnesses agree: the offset the phone writes its times in, and its GPS clock
        elif offset is not None and gps_offset not in (None, offset) and gps_offset == site_offset:
            offset = gps_offset  # the GPS clock and the site's zone, against the tag
        elif offset is not None and gps_offset is None and witnessed not in (None, offset):
            offset = witnessed  # the offset the phone sends its facts in and the site's zone, against the tag
        zone: tzinfo = site_zone if offset is None else timezone(offset)
        captured = _in_zone(local, zone)
        if offset is None and captured is not None and taken_by is not None and captured > taken_by + _CAMERA_AHEAD:
            by_gps_clock = None if gps_offset is None else timezone(gps_offset)
            readings = (_in_zone(local, phone_zone), _in_zone(local, by_gps_clock))
            possible = [reading for reading in readings if reading is not None and reading <= taken_by + _CAMERA_AHEAD]
            return max(possible, default=captured)
        return captured


def _offset_at(zone: tzinfo | None, local: datetime) -> timedelta | None:
    return None if zone is None else _tolerant(zone.utcoffset, local)


def _in_zone(local: datetime, zone: tzinfo | None) -> datetime | None:
    try:
        return local.replace(tzinfo=zone).astimezone(timezone.utc)
    except OverflowError:  # a garbage year 1 or 9999 cannot cross into UTC
        return None


@dataclass(frozen=True)
class ProcessedImage:
    """An accepted upload: width and height are the upright full-resolution size; previews are upright, EXIF-free."""

    format: str
    content_type: str
    width: int
    height: int
    byte_size: int
    sha256: str
    perceptual_hash: str
    turned_hashes: tuple[str, ...]  # E-REUSE: the dHash of the picture turned or mirrored, in the 7 other ways
    fine_hashes: tuple[str, ...]  # E-REUSE: the fine hash upright (the one stored), then in the 7 other ways
    detailed: bool  # E-REUSE: detail enough to tell the picture from another by its hashes (else they are all 0)
    screen: bool  # E-REUSE: a screenshot (no camera named, flat like a screen); filed as "other", compared by bytes
    exif: ExifFacts
    thumbnail_jpeg: bytes = field(repr=False)
    display_jpeg: bytes = field(repr=False)
    ink_coverage: float | None  # measured for signatures only (V-SIGN)
    ink_print: str | None = None  # signatures only (V-SIGN): the strokes' bitmap that tells a copy; None when blank
    ink_density: bytes | None = field(default=None, repr=False)  # signatures only (V-SIGN): told from a copy by it


def process_image(
    data: bytes, limits: ImageLimits = ImageLimits(), *, signature: bool = False, sha256: str | None = None
) -> ProcessedImage:
    """Refuse what is not a sound image within limits, then decode once at the scale the display preview needs.
    sha256 is the file's, when the caller has already hashed it (a 12 MP photo costs ~6 ms to hash).

    Synchronous and CPU-bound (Pillow releases the GIL): call it in a worker thread.
    """
    _require_strict_decoding()
    _refuse_by_byte_size(data, limits)
    with _open_accepted_image(data) as opened:
        _refuse_by_pixel_count(opened.size, limits)
        if signature:
            _refuse_too_small_a_pad(opened.size, limits)
        else:
            _refuse_too_small_a_photo(opened.size, limits)
        full_width, full_height = opened.size
        # MPO (phones storing a depth map or preview as a second frame) is a JPEG whose first frame is the photo.
        image_format = "JPEG" if opened.format == "MPO" else opened.format
        _decode_at_preview_scale(opened)
        # EXIF is read after the one decode: for PNG, getexif() itself decodes to reach an eXIf chunk after the pixels.
        tags = _tolerant(opened.getexif) or Image.Exif()
        exif = _exif_facts(tags)
        turned = _tolerant(tags.get, ExifTags.Base.Orientation) in _QUARTER_TURN_ORIENTATIONS
        upright_with_alpha = _upright_without_metadata(opened)
        upright = _flattened_over_white(upright_with_alpha)
        strokes_alpha = _alpha_of(upright_with_alpha) if signature else None
    display = _shrunk_to_fit(upright, _DISPLAY_LONG_EDGE)
    thumbnail = _shrunk_to_fit(display, _THUMBNAIL_EDGE)
    pictured = _without_frame(thumbnail, display)
    miniature = pictured.convert("L").resize((_REUSE_MINIATURE_EDGE, _REUSE_MINIATURE_EDGE), Image.Resampling.BOX)
    other_ways = [miniature.transpose(turn) for turn in _OTHER_ORIENTATIONS]
    detailed = _detail(miniature) >= _MIN_DETAIL
    strokes = _signature_ink(display, strokes_alpha, one_sided=True) if signature else None
    coverage = None
    if strokes is not None:
        coverage = 0.0 if _along_one_line(strokes) else _ink_coverage(_signature_ink(display, strokes_alpha))
    return ProcessedImage(
        format=image_format,
        content_type=_CONTENT_TYPES[image_format],
        width=full_height if turned else full_width,
        height=full_width if turned else full_height,
        byte_size=len(data),
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        perceptual_hash=_difference_hash(pictured) if detailed else _FEATURELESS,
        turned_hashes=tuple(_difference_hash(picture) if detailed else _FEATURELESS for picture in other_ways),
        fine_hashes=tuple(
            _fine_hash(picture) if detailed else _FEATURELESS_FINE for picture in (miniature, *other_ways)
        ),
        detailed=detailed,
        screen=exif.make is None and exif.model is None and _flat_share(upright) >= _SCREEN_MIN_FLAT_SHARE,
        exif=exif,
        thumbnail_jpeg=_jpeg_bytes(thumbnail),
        display_jpeg=_jpeg_bytes(display),
        ink_coverage=coverage,
        ink_print=ink_print(strokes) if strokes is not None and coverage else None,
        ink_density=ink_density(strokes) if strokes is not None and coverage else None,
    )


def perceptual_distance(hash_a: str, hash_b: str) -> int:
    """E-REUSE: how many bits of two dHashes (64, or 256 for fine ones) differ; a handful means the same picture
    re-encoded or resized."""
    return (int(hash_a, 16) ^ int(hash_b, 16)).bit_count()


def previews_alike(stored: bytes, made: bytes) -> bool:
    """Two preview JPEGs show the same picture: the same bytes, or (one made by another Pillow version) the same size
    and block by block the same colours, give or take a few levels."""
    if stored == made:
        return True
    try:
        with Image.open(io.BytesIO(stored), formats=["JPEG"]) as first, Image.open(io.BytesIO(made)) as second:
            if first.size != second.size:
                return False
            blocks = [picture.convert("RGB").resize(_ALIKE_GRID, Image.Resampling.BOX) for picture in (first, second)]
    except (OSError, ValueError, Image.DecompressionBombError):
        return False
    return max(high for _, high in ImageChops.difference(*blocks).getextrema()) <= _ALIKE_LEVELS


def _require_strict_decoding() -> None:
    # Pillow's switch is process-wide: if anything turned it on, a cut-off photo would decode grey and pass as evidence.
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; refusing to judge uploads that may be truncated")


def _refuse_by_byte_size(data: bytes, limits: ImageLimits) -> None:
    if not data:
        raise ImageRejected("image.empty", "The file is empty.")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            "image.too_large",
            f"The file is {_megabytes(len(data))}; images may be at most {_megabytes(limits.max_bytes)}.",
        )


def _open_accepted_image(data: bytes) -> ImageFile.ImageFile:
    """Read the header only: format and declared size, no pixels."""
    with warnings.catch_warnings():
        # catch_warnings swaps the process-wide filter list, so a concurrent thread may undo this filter; that only
        # loses the early exit, because _refuse_by_pixel_count holds a far lower limit before anything is decoded.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=list(_CONTENT_TYPES))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ImageRejected(
                "image.decompression_bomb", "The image declares a size no photo has; it was not decoded."
            ) from error
        except UnidentifiedImageError as error:
            if _looks_like_svg(data):
                raise ImageRejected(
                    "image.svg", "The file is an SVG drawing, which can carry scripts and links, not a photo."
                ) from error
            raise ImageRejected(
                "image.unsupported_format", "The file is not a JPEG, PNG or WebP image, or is too damaged to tell."
            ) from error
        except _DAMAGED_DATA_ERRORS as error:
            raise ImageRejected("image.corrupt", "The image header is damaged.") from error


def _looks_like_svg(data: bytes) -> bool:
    """Text that starts as markup and has an <svg> element near its start: what browsers would render as SVG."""
    head = data[:_SVG_SNIFF_BYTES].removeprefix(_UTF8_BOM).lstrip()
    return head.startswith(b"<") and _SVG_ROOT.search(head) is not None


def _refuse_by_pixel_count(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    if width * height > limits.max_pixels:
        raise ImageRejected(
            "image.too_many_pixels",
            f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} MP); "
            f"images may have at most {limits.max_pixels / 1e6:g} MP.",
        )


def _refuse_too_small_a_photo(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    if min(width, height) < limits.min_photo_edge:
        raise ImageRejected(
            "image.too_small",
            f"The image is {width}x{height} pixels; a photo's shorter side must be at least {limits.min_photo_edge} "
            "pixels: send the camera's photo, not a thumbnail.",
        )


def _refuse_too_small_a_pad(size: tuple[int, int], limits: ImageLimits) -> None:
    width, height = size
    longer, shorter = limits.min_signature_size
    if max(width, height) < longer or min(width, height) < shorter:
        raise ImageRejected(
            "image.too_small",
            f"The signature is {width}x{height} pixels; a signature pad must be at least {longer}x{shorter} pixels: "
            "send the pad as signed, not a thumbnail.",
        )


def _decode_at_preview_scale(opened: ImageFile.ImageFile) -> None:
    # JPEG decoders scale by 1/2, 1/4 or 1/8 while decoding; other formats ignore draft() and decode in full.
    # The scaled decode still reads the whole stream, so a truncated file fails here as it would at full size.
    opened.draft(None, _size_within(opened.size, _DECODE_LONG_EDGE))
    try:
        opened.load()
    except _DAMAGED_DATA_ERRORS as error:
        if str(error).startswith("image file is truncated"):
            raise ImageRejected("image.truncated", "The image is cut off; upload the complete file again.") from error
        raise ImageRejected("image.corrupt", "The image data is damaged and cannot be decoded.") from error


def _size_within(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    width, height = size
    scale = long_edge / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _exif_facts(tags: Image.Exif) -> ExifFacts:
    camera = _tolerant(tags.get_ifd, ExifTags.IFD.Exif) or {}
    gps = _tolerant(tags.get_ifd, ExifTags.IFD.GPSInfo) or {}
    latitude, longitude = _tolerant(_gps_position, gps) or (None, None)
    captured = _capture_time(tags, camera)
    offset = _first_parsed(
        _exif_utc_offset, (camera, ExifTags.Base.OffsetTimeOriginal), (camera, ExifTags.Base.OffsetTime)
    )
    fixed = _tolerant(_gps_fix_time, gps)
    fixed_utc = fixed and fixed.replace(tzinfo=timezone.utc)
    return ExifFacts(
        captured_at_local=captured,
        captured_utc_offset=offset,
        gps_clock_offset=_tolerant(_offset_by_gps_clock, captured, fixed),
        gps_fixed_at=fixed_utc if fixed_utc and in_calendar(fixed_utc) else None,
        gps_latitude=latitude,
        gps_longitude=longitude,
        make=_first_parsed(_exif_text, (tags, ExifTags.Base.Make)),
        model=_first_parsed(_exif_text, (tags, ExifTags.Base.Model)),
        software=_software(tags),
    )


def _software(tags: Image.Exif) -> str | None:
    """E-EDIT: the program that wrote the file (Software) and the one that processed it (ProcessingSoftware, where a
    program notes itself without replacing the camera's name), both when they differ."""
    writers = (ExifTags.Base.Software, ExifTags.Base.ProcessingSoftware)
    names = (_first_parsed(_exif_text, (tags, tag)) for tag in writers)
    return " / ".join(dict.fromkeys(name for name in names if name)) or None


def _tolerant(read: Callable[..., _T], *args: Any) -> _T | None:
    # Pillow decodes EXIF lazily and malformed EXIF surfaces as almost any exception type (struct.error, SyntaxError,
    # ValueError, TypeError, ZeroDivisionError...); a parser below may also trip on a value of the wrong type.
    # Garbage must cost the field, never the upload.
    try:
        return read(*args)
    except Exception:
        return None


def _first_parsed(parse: Callable[[Any], _T | None], *sources: tuple[Mapping[int, Any], int]) -> _T | None:
    """The first tag that is present and parses; absent and garbage tags both fall through to the next."""
    for tags, tag in sources:
        parsed = _tolerant(parse, _tolerant(tags.get, tag))
        if parsed is not None:
            return parsed
    return None


def _exif_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    # Writers pad EXIF text with NULs or spaces, and some write UTF-16 into an ASCII tag (a NUL after every letter):
    # the letters are the text. Longer than any real camera or program name is noise, and the photo table stores at
    # most EXIF_TEXT_LIMIT characters.
    return value.replace("\x00", "").strip()[:EXIF_TEXT_LIMIT] or None


def _capture_time(tags: Image.Exif, camera: Mapping[int, Any]) -> datetime | None:
    """DateTimeOriginal to its SubsecTimeOriginal, else DateTime to its SubsecTime: a phone writes the time to the
    second and the fraction apart, and a photo taken 0.8 s after a step is not from before it."""
    for stamps, stamp, fraction in (
        (camera, ExifTags.Base.DateTimeOriginal, ExifTags.Base.SubsecTimeOriginal),
        (tags, ExifTags.Base.DateTime, ExifTags.Base.SubsecTime),
    ):
        moment = _tolerant(_exif_datetime, _tolerant(stamps.get, stamp))
        if moment is not None:
            microseconds = _tolerant(_exif_subseconds, _tolerant(camera.get, fraction))
            return moment if microseconds is None else moment.replace(microsecond=microseconds)
    return None


def _exif_datetime(value: Any) -> datetime | None:
    text = _exif_text(value)
    if not text:
        return None
    moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    # Some writers append sub-seconds (or a zone) after the 19 characters EXIF defines.
    appended = _APPENDED_FRACTION.match(text, 19)
    return moment.replace(microsecond=_microseconds(appended.group(1))) if appended else moment


def _exif_subseconds(value: Any) -> int | None:
    digits = _exif_text(value)
    return _microseconds(digits) if digits and digits.isascii() and digits.isdigit() else None


def _microseconds(digits: str) -> int:
    return int(digits[:6].ljust(6, "0"))


def _exif_utc_offset(value: Any) -> timedelta | None:
    match = _UTC_OFFSET.fullmatch(_exif_text(value) or "")
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    if offset > _LARGEST_UTC_OFFSET:
        return None
    return -offset if sign == "-" else offset


def _gps_fix_time(gps: Mapping[int, Any]) -> datetime:
    """The GPS fix's date and time, UTC (naive, as EXIF's local times are)."""
    day = datetime.strptime(_exif_text(gps.get(ExifTags.GPS.GPSDateStamp)) or "", "%Y:%m:%d")
    hours, minutes, seconds = (float(part) for part in gps[ExifTags.GPS.GPSTimeStamp])
    return day + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _offset_by_gps_clock(local: datetime | None, fix: datetime | None) -> timedelta | None:
    """E-TIME: a camera that writes no offset but the GPS fix's date and time (always UTC) tells its offset by their
    difference, to the quarter hour zones come in, when the fix is the photo's own (within 2 min of it): a phone set
    to another zone than the site's is then read on its own clock."""
    if local is None or fix is None:
        return None
    difference = local - fix
    offset = round(difference / _ZONE_STEP) * _ZONE_STEP
    if abs(offset) > _LARGEST_UTC_OFFSET or abs(difference - offset) > _GPS_FIX_WITH_PHOTO:
        return None
    return offset


def _gps_position(gps: Mapping[int, Any]) -> tuple[float | None, float | None]:
    latitude = _coordinate(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "NS", 90)
    longitude = _coordinate(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "EW", 180)
    # Half a position cannot place the photo, and receivers without a fix write 0/0 rather than nothing.
    if latitude is None or longitude is None or latitude == longitude == 0:
        return None, None
    return latitude, longitude


def _coordinate(degrees_minutes_seconds: Any, reference: Any, hemispheres: str, limit: float) -> float | None:
    degrees, minutes, seconds = (float(part) for part in degrees_minutes_seconds)
    magnitude = degrees + minutes / 60 + seconds / 3600
    # Comparisons with NaN, which is what Pillow makes of a zero denominator, are all False.
    if not (0 <= degrees and 0 <= minutes < 60 and 0 <= seconds < 60 and magnitude <= limit):
        return None
    positive, negative = hemispheres
    hemisphere = (_exif_text(reference) or "").upper()
    if hemisphere not in (positive, negative):
        return None
    return -magnitude if hemisphere == negative else magnitude


def _upright_without_metadata(decoded: ImageFile.ImageFile) -> ImageFile.ImageFile:
    # Keep only what pixel conversion needs: previews go to people who must not see EXIF, XMP, ICC or comments. With
    # the EXIF bytes gone, exif_transpose turns the pixels by the orientation getexif() already parsed and cached,
    # and has no untrusted EXIF to re-serialise (the source of a long line of Pillow crash reports).
    decoded.info = {key: value for key, value in decoded.info.items() if key == "transparency"}
    ImageOps.exif_transpose(decoded, in_place=True)
    return decoded


def _flattened_over_white(image: Image.Image) -> Image.Image:
    """An RGB copy that no longer needs the file, with transparent areas shown as the white paper they stand for."""
    if image.mode.startswith("I"):
        # 16-bit grey PNGs: Pillow's conversions clip their values to 0..255 instead of scaling, which turns them white.
        image = image.point(lambda value: value / 256)
    if not image.has_transparency_data:
        return image.convert("RGB")
    white = Image.new("RGBA", image.size, "white")
    return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")


def _shrunk_to_fit(image: Image.Image, long_edge: int) -> Image.Image:
    if max(image.size) <= long_edge:
        return image  # never enlarge
    return image.resize(_size_within(image.size, long_edge), Image.Resampling.BICUBIC, reducing_gap=_REDUCING_GAP)


def _jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=_PREVIEW_JPEG_QUALITY)
    return buffer.getvalue()


def _difference_hash(image: Image.Image, size: tuple[int, int] = (_DHASH_WIDTH, _DHASH_HEIGHT)) -> str:
    # dHash: one bit per neighbouring pair of a grey miniature (9x8: 64 bits), set when the right one is brighter.
    # Brightness gradients survive re-encoding and resizing; a different scene flips about half of them.
    # A copy turned a quarter or mirrored has a dHash unrelated to the original's, so ingest also hashes the reuse
    # miniature (72x72 grey: a seventh of the cost of turning the whole thumbnail) in every other orientation.
    width, height = size
    miniature = image.convert("L").resize(size, Image.Resampling.LANCZOS).tobytes()
    rows = [miniature[start : start + width] for start in range(0, len(miniature), width)]
    bits = "".join("1" if right > left else "0" for row in rows for left, right in zip(row, row[1:]))
    return f"{int(bits, 2):0{(width - 1) * height // 4}x}"


def _without_frame(picture: Image.Image, larger: Image.Image) -> Image.Image:
    """The picture inside any flat margin around it (on any side), judged from two opposite corners' colours. A frame
    seen on the picture is cut exactly from the larger copy and shrunk back, so a small picture in a wide frame keeps
    its detail, and its edges are where a copy's would be."""
    if _framed_box(picture) is None:
        return picture
    box = _framed_box(larger)
    return picture if box is None else _shrunk_to_fit(larger.crop(box), _THUMBNAIL_EDGE)


def _framed_box(picture: Image.Image) -> tuple[int, int, int, int] | None:
    gray = picture.convert("L")
    width, height = gray.size
    kept = (0, 0, width, height)
    for corner in ((0, 0), (width - 1, height - 1)):
        frame = gray.getpixel(corner)
        away = ImageChops.difference(gray, Image.new("L", gray.size, frame))
        box = away.point(lambda level: 255 if level > _FRAME_FLATNESS else 0).getbbox()
        if box is None:
            return None  # one flat colour all over: nothing to trim to
        if not _sharp_edges(away, box, (0, 0, width, height)):
            # A faint texture (tiles, a wall) fading in and out of the corner's colour is no frame on that corner's
            # sides; the other corner may still sit on a bar (a bar on one side left the picture untrimmed; a probe).
            continue
        kept = (max(kept[0], box[0]), max(kept[1], box[1]), min(kept[2], box[2]), min(kept[3], box[3]))
    if kept == (0, 0, width, height):
        return None
    # The line where frame and picture meet is a blend of both (resampled, and in the JPEG's blocks): left out, as an
    # edge of dark frame darkens the picture's outer cells enough to flip the fine hash's near-ties (a probe).
    left, top, right, bottom = kept
    kept = (left + (left > 0) * _FRAME_BLEND, top + (top > 0) * _FRAME_BLEND,
            right - (right < width) * _FRAME_BLEND, bottom - (bottom < height) * _FRAME_BLEND)
    kept_width, kept_height = kept[2] - kept[0], kept[3] - kept[1]
    if kept_width <= 0 or kept_height <= 0 or kept_width * kept_height < _FRAME_MIN_KEPT * width * height:
        return None
    return kept


def _sharp_edges(away: Image.Image, box: tuple[int, int, int, int], whole: tuple[int, int, int, int]) -> bool:
    """Each side trimmed ends at a clear step: the picture's lines just inside differ from the frame's colour
    on average by several times the flatness allowed, so a copy re-encoded is trimmed exactly where its original was."""
    left, top, right, bottom = box
    inset = _FRAME_EDGE_INSET  # past the compression's ringing along the edge
    lines = [
        (left + inset, top, left + inset + 1, bottom) if left > whole[0] else None,
        (right - inset - 1, top, right - inset, bottom) if right < whole[2] else None,
        (left, top + inset, right, top + inset + 1) if top > whole[1] else None,
        (left, bottom - inset - 1, right, bottom - inset) if bottom < whole[3] else None,
    ]
    for line in filter(None, lines):
        if ImageStat.Stat(away.crop(line)).mean[0] < _FRAME_EDGE_STEP:
            return False
    return True


def _flat_share(picture: Image.Image) -> float:
    """The share of side-by-side pixel pairs exactly alike in every channel: most of a screen's (flat panels, text on
    them), few of a camera's, whose sensor noise tells neighbours apart (smooth walls and sky included)."""
    width, height = picture.size
    if width < 2:
        return 0.0
    apart = ImageChops.difference(picture.crop((1, 0, width, height)), picture.crop((0, 0, width - 1, height)))
    red, green, blue = apart.split()
    most_apart = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    return most_apart.histogram()[0] / ((width - 1) * height)


def _detail(miniature: Image.Image) -> float:
    blurred = miniature.filter(ImageFilter.GaussianBlur(_DETAIL_BLUR))
    return ImageStat.Stat(ImageChops.difference(miniature, blurred)).mean[0]


def _fine_hash(miniature: Image.Image) -> str:
    return _difference_hash(miniature, (_FINE_DHASH_WIDTH, _FINE_DHASH_HEIGHT))


def _alpha_of(image: Image.Image) -> Image.Image | None:
    """V-SIGN: a canvas exported with a transparent pad draws its strokes in alpha, whatever their colour (white ink
    flattened over white would otherwise vanish)."""
    if not image.has_transparency_data:
        return None
    return _shrunk_to_fit(image.convert("RGBA").getchannel("A"), _DISPLAY_LONG_EDGE)


def _signature_ink(image: Image.Image, alpha: Image.Image | None, *, one_sided: bool = False) -> Image.Image:
    """V-SIGN: the strokes (255) on the pad (0). Ink stands out from the pad around it, so uneven lighting (a gradient,
    a shadow) is pad; and a line across most of the pad (a frame, a printed baseline) is the pad's, not the
    customer's."""
    ink = _standing_out(image.convert("L"), one_sided=one_sided)
    if alpha is not None:
        ink = ImageChops.lighter(ink, _standing_out(alpha, one_sided=one_sided))
    width, height = ink.size
    side, top = width // _PAD_MIDDLE_MARGIN, height // _PAD_MIDDLE_MARGIN
    rows = ink.crop((side, 0, width - side, height)).resize((1, height), Image.Resampling.BOX).tobytes()
    columns = ink.crop((0, top, width, height - top)).resize((width, 1), Image.Resampling.BOX).tobytes()
    thickest = max(_PAD_LINE_MIN_THICKNESS, round(min(width, height) * _STANDARD_PEN_SHARE))
    across = ImageDraw.Draw(ink)
    for first, last in _thin_runs(rows, thickest):
        across.rectangle([(0, first), (width - 1, last)], fill=0)
    for first, last in _thin_runs(columns, thickest):
        if first < width // _PAD_EDGE_ZONE or last >= width - width // _PAD_EDGE_ZONE:  # a frame's side, not a stroke
            across.rectangle([(first, 0), (last, height - 1)], fill=0)
    return ink


def _ink_coverage(ink: Image.Image) -> float:
    """V-SIGN: the share of the pad the strokes would cover drawn with the standard pen (their length times its
    width)."""
    width, height = ink.size
    pen_width = min(width, height) * _STANDARD_PEN_SHARE
    return min(1.0, _stroke_length(ink) * pen_width / (width * height))


def _stroke_length(ink: Image.Image) -> float:
    # Growing the strokes by one pixel adds a rim on both sides of each, whatever the pen: half the rim is their length.
    rim = ImageChops.subtract(ink.filter(ImageFilter.MaxFilter(3)), ink)
    return rim.histogram()[255] / 2


def _along_one_line(strokes: Image.Image) -> bool:
    """V-SIGN: ink that lies along one straight line (a stroke struck across the pad, at any angle, thin or thick,
    steady or shaky) is no signature. A straight stroke t wide spreads t / sqrt(12) across its direction; a hand that
    shakes adds a little, in proportion to the stroke's own length. A written name, however flat, spreads more. From
    the ink's second moments: the spread of x, of y and of x + y (the ink sheared by 45 degrees) give the covariance.
    `strokes`: the ink on its own side of the pad only, which a thick pen leaves without a halo."""
    length = _stroke_length(strokes)
    if not length:
        return False
    thickness = strokes.histogram()[255] / length
    width, height = strokes.size
    sheared = strokes.transform((width + height, height), Image.Transform.AFFINE, (1, -1, 0, 0, 1, 0))
    weights = strokes.convert("F")
    spread_x = _spread(weights.resize((width, 1), Image.Resampling.BOX).get_flattened_data())
    spread_y = _spread(weights.resize((1, height), Image.Resampling.BOX).get_flattened_data())
    spread_sum = _spread(sheared.convert("F").resize((width + height, 1), Image.Resampling.BOX).get_flattened_data())
    covariance = (spread_sum - spread_x - spread_y) / 2
    half_sum, half_difference = (spread_x + spread_y) / 2, (spread_x - spread_y) / 2
    across = math.sqrt(max(half_sum - math.sqrt(half_difference**2 + covariance**2), 0.0))
    along = math.sqrt(half_sum + math.sqrt(half_difference**2 + covariance**2))
    widest = max(_LINE_SPREAD_FLOOR, _LINE_WIDTH_SPREAD * thickness + _LINE_SHAKE_SHARE * along)
    return across <= widest


def _spread(weights: Iterable[float]) -> float:
    """Variance of the positions 0, 1, 2 ... weighted by `weights`."""
    moments = weighted_moments(weights)
    return 0.0 if moments is None else moments[1]


def _thin_runs(shares: bytes, thickest: int) -> list[tuple[int, int]]:
    """Runs of consecutive rows (or columns) inked like a line across the pad, no thicker than a printed line: a
    thick pen's strokes fill many rows in a row and stay ink."""
    runs, start = [], None
    for index, share in enumerate([*shares, 0]):
        if share >= _PAD_LINE_SHARE and start is None:
            start = index
        elif share < _PAD_LINE_SHARE and start is not None:
            if index - start <= thickest:
                runs.append((start, index - 1))
            start = None
    return runs


_INK_LEVELS = [255 if level >= _INK_CONTRAST else 0 for level in range(256)]


def _standing_out(gray: Image.Image, *, one_sided: bool = False) -> Image.Image:
    """Pixels (255) that differ from the pad's own level around them by the ink contrast; the rest 0.

    one_sided: only on the ink's side of the pad (dark ink on a light pad, light on a dark one). Dense strokes darken the
    pad's level around them, so the pad between them stands out the other way too, the more so the larger the image:
    which fills a thick pen's loops in as ink (V-SIGN's coverage counts on it), but moves a copy's strokes."""
    width, height = gray.size
    around = gray.resize((max(1, width // _PAD_CELL), max(1, height // _PAD_CELL)), Image.Resampling.BOX)
    pad = around.resize((width, height), Image.Resampling.BILINEAR)
    if not one_sided:
        return ImageChops.difference(gray, pad).point(_INK_LEVELS)
    light_pad = ImageStat.Stat(gray).median[0] >= 128  # most of a pad is pad
    return (ImageChops.subtract(pad, gray) if light_pad else ImageChops.subtract(gray, pad)).point(_INK_LEVELS)


def _megabytes(byte_count: int) -> str:
    return f"{byte_count / (1024 * 1024):.1f} MB"
