"""A technician's phone for tests (its own, possibly wrong, wall clock), visits to drive it on, and test images."""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import ExifTags, Image

from fieldsvc.tables import FollowUp, Photo, PhotoHashBand, PhotoMatch, TrailEntry, VisitEvent
from tests.conftest import FrozenClock
from tests.integration.builders import SHANGHAI_SITE, assign, booked_visit, technician_id

SHANGHAI = ZoneInfo("Asia/Shanghai")
AGREED = datetime(2030, 3, 4, 10, 0, tzinfo=SHANGHAI)  # an hour after the frozen clock's 09:00 in Shanghai
AT_SITE = {"latitude": SHANGHAI_SITE["latitude"] + 0.0002, "longitude": SHANGHAI_SITE["longitude"]}  # about 22 m north


async def assigned_visit(
    client: httpx.AsyncClient,
    dispatcher: dict[str, str],
    staff_number: str = "T1001",
    agreed_time: datetime = AGREED,
    **order: Any,
) -> str:
    """A booked visit, assigned to the technician with this staff number; its id."""
    visit = await booked_visit(client, dispatcher, agreed_time, **order)
    response = await assign(client, dispatcher, visit["id"], await technician_id(client, dispatcher, staff_number))
    assert response.status_code == 200, response.text
    return visit["id"]


@pytest.fixture
async def visit_id(client: httpx.AsyncClient, as_dispatcher: dict[str, str]) -> str:
    """A visit assigned to the technician tech1 (T1001)."""
    return await assigned_visit(client, as_dispatcher)


@pytest.fixture
async def other_visit_id(client: httpx.AsyncClient, as_dispatcher: dict[str, str]) -> str:
    """A visit assigned to the other technician, tech2 (T1002)."""
    return await assigned_visit(client, as_dispatcher, staff_number="T1002")


@pytest.fixture
def phone(client: httpx.AsyncClient, as_tech: dict[str, str], clock: FrozenClock) -> Phone:
    return Phone(client, as_tech, clock)


@pytest.fixture
def other_phone(client: httpx.AsyncClient, as_other_tech: dict[str, str], clock: FrozenClock) -> Phone:
    return Phone(client, as_other_tech, clock)


@dataclass
class Phone:
    """Posts facts like the app: every request carries the phone's wall clock, which runs `skew` off the truth."""

    client: httpx.AsyncClient
    auth: dict[str, str]
    clock: FrozenClock
    skew: timedelta = timedelta(0)
    elapsed_ms: int | None = None  # the monotonic clock now, when the phone reports one
    zone: tzinfo = UTC  # the offset its times are sent in (many apps send UTC; some the phone's local time)
    device_id: str | None = None  # X-Device-Id, when the app sends one
    boot: int | None = None  # the phone's boot count, when the app sends it (X-Device-Boot, deviceBoot)

    def wall(self) -> datetime:
        return (self.clock.now + self.skew).astimezone(self.zone)

    def headers(self) -> dict[str, str]:
        headers = {**self.auth, "X-Device-Clock": self.wall().isoformat()}
        if self.elapsed_ms is not None:
            headers["X-Device-Elapsed-Ms"] = str(self.elapsed_ms)
        if self.device_id is not None:
            headers["X-Device-Id"] = self.device_id
        if self.boot is not None:
            headers["X-Device-Boot"] = str(self.boot)
        return headers

    def fact(self, **fields: Any) -> dict[str, Any]:
        """A new fact happening now by the phone's clocks."""
        body = {"eventId": str(uuid4()), "deviceTime": self.wall().isoformat(), **fields}
        if self.elapsed_ms is not None:
            body["deviceElapsedMs"] = self.elapsed_ms
        if self.boot is not None:
            body["deviceBoot"] = self.boot
        return body

    def restart(self, elapsed_ms: int = 30_000) -> None:
        """The phone restarts: its monotonic clock starts again, its boot count goes up if it keeps one."""
        self.elapsed_ms = elapsed_ms
        if self.boot is not None:
            self.boot += 1

    def location(self, mock: bool = False, accuracy_m: float = 8.0, **where: float) -> dict[str, Any]:
        return {**AT_SITE, **where, "accuracyM": accuracy_m, "fixTime": self.wall().isoformat(), "mock": mock}

    async def post(self, visit_id: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(f"/v1/mobile/visits/{visit_id}/{path}", json=body, headers=self.headers())

    async def upload(
        self, visit_id: str, path: str, meta: dict[str, Any], data: bytes, filename: str = "photo.jpg"
    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/mobile/visits/{visit_id}/{path}",
            data={"meta": json.dumps(meta)},
            files={"file": (filename, data, "image/jpeg")},
            headers=self.headers(),
        )

    async def photo(self, visit_id: str, purpose: str, data: bytes) -> httpx.Response:
        return await self.upload(visit_id, "photos", self.fact(purpose=purpose), data)


def picture(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """Smooth random shading; each seed a different scene (so a different perceptual hash)."""
    rng = random.Random(seed)
    coarse = Image.new("RGB", (8, 6))
    coarse.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(48)])
    return coarse.resize(size, Image.Resampling.BICUBIC)


def encoded(image: Image.Image, image_format: str = "JPEG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def jpeg(seed: int, **options: Any) -> bytes:
    return encoded(picture(seed), **options)


def camera_exif(
    taken_local: datetime, latitude: float | None = None, longitude: float | None = None,
    fixed_at: datetime | None = None,
) -> Image.Exif:
    """EXIF as a phone camera writes it: local capture time without offset, optionally a GPS position and the time
    (an aware datetime, written in UTC) of the fix that gave it."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Xiaomi"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken_local.strftime("%Y:%m:%d %H:%M:%S")
    if latitude is not None and longitude is not None:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update(
            {
                ExifTags.GPS.GPSLatitudeRef: "N",
                ExifTags.GPS.GPSLatitude: _degrees_minutes_seconds(latitude),
                ExifTags.GPS.GPSLongitudeRef: "E",
                ExifTags.GPS.GPSLongitude: _degrees_minutes_seconds(longitude),
            }
        )
    if fixed_at is not None:
        fix = fixed_at.astimezone(UTC)
        exif.get_ifd(ExifTags.IFD.GPSInfo).update({
            ExifTags.GPS.GPSDateStamp: fix.strftime("%Y:%m:%d"),
            ExifTags.GPS.GPSTimeStamp: (float(fix.hour), float(fix.minute), float(fix.second)),
        })
    return exif


def _degrees_minutes_seconds(value: float) -> tuple[float, float, float]:
    degrees, rest = divmod(value * 3600, 3600)
    minutes, seconds = divmod(rest, 60)
    return float(degrees), float(minutes), round(seconds, 4)


def signature_png() -> bytes:
    canvas = Image.new("L", (600, 200), 255)
    for x in range(50, 550):
        for thickness in range(3):
            canvas.putpixel((x, 100 + (x % 40) - 20 + thickness), 0)
    return encoded(canvas, "PNG")


def png_declaring(width: int, height: int) -> bytes:
    """A few bytes of PNG whose header claims a huge canvas: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


async def row_counts() -> dict[str, int]:
    """How many rows the phone's facts have produced so far, table by table (the audit's verdict entries aside)."""
    tables = (VisitEvent, Photo, PhotoHashBand, PhotoMatch, FollowUp)
    counts = {table._meta.tablename: await table.count() for table in tables}
    return counts | {"trail_entry": await trail_entries("kind <> 'verdict'")}


async def trail_entries(kind_condition: str) -> int:
    """Trail entries whose kind meets the SQL condition, chained or still queued: one statement, one snapshot
    (the background auditor moves entries from the queue to the chain at any moment)."""
    [row] = await TrailEntry.raw(
        f"SELECT (SELECT count(*) FROM trail_entry WHERE {kind_condition})"
        f" + (SELECT count(*) FROM trail_pending WHERE {kind_condition}) AS n"
    )
    return row["n"]
