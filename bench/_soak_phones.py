"""The soak's phones: technicians playing whole days over loopback at a paced rate, replaying and retrying facts."""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from PIL import ExifTags, Image, ImageDraw

import _common as common
from _common import HOST, HttpClient

BOUNDARY = "fieldsvc-soak-2f9c1e"
UPLOAD_ENDPOINTS = ("photos", "signature")
# A phone answered 503 without Retry-After (a bug in itself, counted) still waits this long before it retries.
DEFAULT_RETRY_AFTER = 5.0
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 8.0  # connection errors, timeouts and other 5xx: doubling, with jitter
PHOTO_SIZE = (640, 480)


# ---------------------------------------------------------------------------------------------------- images


@dataclass(frozen=True)
class VisitMedia:
    """What a phone's camera and signature pad produced for one visit, made before the load (not timed)."""

    photos: dict[str, bytes]  # purpose -> JPEG
    signature: bytes  # PNG


def camera_jpeg(rng: random.Random, taken_local: datetime, latitude: float, longitude: float) -> bytes:
    """A small, distinct scene (smooth shading and a few shapes, so perceptual hashes differ), with camera EXIF:
    local capture time without offset and a GPS fix, as phones write them."""
    coarse = Image.new("RGB", (8, 6))
    coarse.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(48)])
    picture = coarse.resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(picture)
    for _ in range(6):
        x, y = rng.randrange(PHOTO_SIZE[0] - 80), rng.randrange(PHOTO_SIZE[1] - 80)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(20, 80), y + rng.randrange(20, 80)), fill=colour)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Xiaomi"
    exif[ExifTags.Base.Model] = "Redmi Note 12"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken_local.strftime("%Y:%m:%d %H:%M:%S")
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(
        {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: _degrees_minutes_seconds(latitude),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: _degrees_minutes_seconds(longitude),
        }
    )
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=85, exif=exif)
    return buffer.getvalue()


def signature_png(rng: random.Random) -> bytes:
    """A customer's scribble: black strokes on white, different on every visit."""
    pad = Image.new("L", (600, 200), 255)
    draw = ImageDraw.Draw(pad)
    for _ in range(3):
        x, y = rng.randrange(40, 120), rng.randrange(60, 140)
        points = [(x, y)]
        for _ in range(12):
            x, y = min(580, x + rng.randrange(15, 45)), max(20, min(180, y + rng.randrange(-40, 41)))
            points.append((x, y))
        draw.line(points, fill=0, width=4, joint="curve")
    buffer = io.BytesIO()
    pad.save(buffer, "PNG")
    return buffer.getvalue()


def _degrees_minutes_seconds(value: float) -> tuple[float, float, float]:
    degrees, rest = divmod(value * 3600, 3600)
    minutes, seconds = divmod(rest, 60)
    return float(degrees), float(minutes), round(seconds, 4)


def visit_media(visit: common.SeededVisit, rng: random.Random) -> VisitMedia:
    taken = datetime.now(common.SHANGHAI).replace(tzinfo=None)
    purposes = ["shoe_covers", "site_clean"] + (["before"] if rng.random() < 0.5 else [])
    return VisitMedia(
        photos={purpose: camera_jpeg(rng, taken, visit.latitude, visit.longitude) for purpose in purposes},
        signature=signature_png(rng),
    )


# ------------------------------------------------------------------------------------------------ the journal


@dataclass
class Attempt:
    started: float  # seconds since the load began
    seconds: float
    status: int | None  # None: no HTTP answer (see `failure`)
    failure: str | None = None  # "connection error" | "timeout"
    code: str | None = None  # the error body's code
    retry_after: str | None = None


@dataclass
class Call:
    """One request a phone means to make, with every attempt it took to get a final answer."""

    endpoint: str  # "arrival", "photos", "summary", ...
    role: str  # "original" | "replay" (after the original's answer) | "racing replay" (sent with it) | "read"
    event_id: str | None
    visit_id: str
    attempts: list[Attempt] = field(default_factory=list)
    final: int | None = None  # the final status (2xx or 4xx); None when the phone gave up
    answer: Any = None  # the final answer's JSON
    replay_header: bool = False  # the final answer carried Idempotent-Replay: true
    seconds: float = 0.0  # from the first attempt to the final answer, retries and waits included


class Journal:
    """Everything the phones sent and got, for the report and for the checker (which eventIds were answered 2xx)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.started = time.monotonic()
        self.wall_started = time.time()  # to place the service's log lines (epoch timestamps) on this clock
        self.ended: float | None = None
        self.uploads_in_flight: dict[int, Call] = {}  # client port -> call, for killing the worker serving one

    def now(self) -> float:
        return time.monotonic() - self.started

    def acknowledged(self) -> dict[str, list[Call]]:
        """eventId -> its calls that got a 2xx answer."""
        found: dict[str, list[Call]] = {}
        for call in self.calls:
            if call.event_id and call.final is not None and 200 <= call.final < 300:
                found.setdefault(call.event_id, []).append(call)
        return found

    def sent_event_ids(self) -> set[str]:
        return {call.event_id for call in self.calls if call.event_id}

    def attempts(self) -> list[tuple[Call, Attempt]]:
        return [(call, attempt) for call in self.calls for attempt in call.attempts]


class Pacer:
    """A fixed offered rate: every first send (replays included) takes the next free slot; retries are not paced,
    they follow their own backoff like a phone's. Slots not used while phones wait are not saved up."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self.next = time.monotonic()

    async def slot(self, count: int = 1) -> None:
        now = time.monotonic()
        at = max(self.next, now)
        self.next = at + count * self.interval
        if at > now:
            await asyncio.sleep(at - now)


# -------------------------------------------------------------------------------------------------- a phone


@dataclass(frozen=True)
class Behaviour:
    replay_share: float  # facts sent twice with the same eventId and body
    race_share: float  # of those, the share sent at the same time as the original
    timeout: float  # seconds a phone waits for an answer before it drops the connection and retries
    give_up: float  # seconds after the first attempt when a phone stops retrying a request


class Phone:
    """A technician's phone: its own clocks (a little off the truth), its keep-alive connections, its retries."""

    def __init__(self, port: int, token: str, rng: random.Random, journal: Journal, pacer: Pacer, how: Behaviour):
        self.port, self.token, self.rng, self.journal, self.pacer, self.how = port, token, rng, journal, pacer, how
        # Most phones are within seconds of the truth; one in ten runs minutes off (E-CLOCK corrects it).
        minutes_off = rng.choice((-7, -3, 4, 9)) if rng.random() < 0.1 else 0
        self.skew = timedelta(minutes=minutes_off, seconds=rng.uniform(-2, 2))
        self.boot_ms = rng.randrange(3_600_000, 400_000_000) - int(time.monotonic() * 1000)
        self.idle: list[HttpClient] = []  # open connections; a racing replay takes a second one
        # Every fact adds replay_share to the credit and a whole credit buys a replay: exactly that share of facts is
        # replayed, spread over the day; the random start makes phones replay different steps.
        self.replay_credit = rng.random()

    def wall(self) -> datetime:
        return datetime.now(UTC) + self.skew

    def elapsed_ms(self) -> int:
        return self.boot_ms + int(time.monotonic() * 1000)

    def fact(self, **fields: Any) -> dict[str, Any]:
        body = {"eventId": str(uuid4()), "deviceTime": self.wall().isoformat(), "deviceElapsedMs": self.elapsed_ms()}
        return {**body, **fields}

    def fix(self, visit: common.SeededVisit) -> dict[str, Any]:
        return {
            "latitude": visit.latitude + self.rng.uniform(-0.0002, 0.0002),
            "longitude": visit.longitude + self.rng.uniform(-0.0002, 0.0002),
            "accuracyM": round(self.rng.uniform(4, 20), 1),
            "fixTime": self.wall().isoformat(),
            "mock": False,
        }

    # ---------------------------------------------------------------------------------------------- sending

    async def post_fact(self, endpoint: str, visit_id: str, body: dict[str, Any]) -> Call:
        payload = json.dumps(body).encode()
        return await self._deliver(endpoint, visit_id, body["eventId"], payload, "application/json")

    async def upload(self, endpoint: str, visit_id: str, meta: dict[str, Any], data: bytes, filename: str) -> Call:
        content_type = "image/png" if filename.endswith(".png") else "image/jpeg"
        head = (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{json.dumps(meta)}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        payload = head + data + f"\r\n--{BOUNDARY}--\r\n".encode()
        return await self._deliver(
            endpoint, visit_id, meta["eventId"], payload, f"multipart/form-data; boundary={BOUNDARY}"
        )

    async def read(self, endpoint: str, visit_id: str) -> Call:
        await self.pacer.slot()
        call = Call(endpoint, "read", None, visit_id)
        await self._send(call, "GET", f"/v1/mobile/visits/{visit_id}/{endpoint}", b"", None)
        return call

    async def _deliver(self, endpoint: str, visit_id: str, event_id: str, payload: bytes, content_type: str) -> Call:
        """The fact once, or twice with the same eventId and body: after its answer, or racing it."""
        path = f"/v1/mobile/visits/{visit_id}/{endpoint}"
        self.replay_credit += self.how.replay_share
        replay = self.replay_credit >= 1
        if replay:
            self.replay_credit -= 1
        original = Call(endpoint, "original", event_id, visit_id)
        if replay and self.rng.random() < self.how.race_share:
            await self.pacer.slot(2)
            twin = Call(endpoint, "racing replay", event_id, visit_id)
            await asyncio.gather(
                self._send(original, "POST", path, payload, content_type),
                self._send(twin, "POST", path, payload, content_type),
            )
            return original
        await self.pacer.slot()
        await self._send(original, "POST", path, payload, content_type)
        if replay:
            await self.pacer.slot()
            await self._send(Call(endpoint, "replay", event_id, visit_id), "POST", path, payload, content_type)
        return original

    def _headers(self, content_type: str | None) -> list[tuple[str, str]]:
        # The clock headers are read at each send, retries included: they say when this request left the phone.
        headers = [
            ("Authorization", f"Bearer {self.token}"),
            ("X-Device-Clock", self.wall().isoformat()),
            ("X-Device-Elapsed-Ms", str(self.elapsed_ms())),
        ]
        if content_type:
            headers.append(("Content-Type", content_type))
        return headers

    async def _send(self, call: Call, method: str, path: str, payload: bytes, content_type: str | None) -> None:
        """Until a 2xx or a 4xx: connection errors, timeouts and 5xx are retried with the same body (and eventId),
        after Retry-After for a 503 and a growing backoff otherwise, until `give_up` seconds have passed."""
        self.journal.calls.append(call)
        first = time.monotonic()
        backoff = FIRST_BACKOFF
        while True:
            client = self.idle.pop() if self.idle else HttpClient(HOST, self.port)
            attempt = Attempt(started=self.journal.now(), seconds=0.0, status=None)
            call.attempts.append(attempt)
            sent = time.monotonic()
            wait = backoff
            port = None
            try:
                await _connected(client)
                if call.endpoint in UPLOAD_ENDPOINTS:
                    port = client.writer.get_extra_info("sockname")[1]
                    self.journal.uploads_in_flight[port] = call
                reply = await asyncio.wait_for(
                    client.request(method, path, self._headers(content_type), payload), self.how.timeout
                )
            except TimeoutError:  # before OSError: TimeoutError is one
                attempt.failure = "timeout"
                await client.close()
            except (OSError, EOFError):  # refused, reset, or the connection closed mid-answer (IncompleteReadError)
                attempt.failure = "connection error"
                await client.close()
            else:
                self.idle.append(client)
                attempt.status = reply.status
                if reply.status >= 400:
                    attempt.code = _error_code(reply.body)
                if reply.status < 500:
                    call.final = reply.status
                    call.answer = _json_or_none(reply.body)
                    call.replay_header = reply.headers.get("idempotent-replay") == "true"
                if reply.status == 503:
                    attempt.retry_after = reply.headers.get("retry-after")
                    wait = _seconds(attempt.retry_after)
            finally:
                attempt.seconds = time.monotonic() - sent
                if port is not None:
                    del self.journal.uploads_in_flight[port]
            if call.final is not None or time.monotonic() - first + wait > self.how.give_up:
                call.seconds = time.monotonic() - first
                return
            await asyncio.sleep(wait * self.rng.uniform(0.8, 1.2))
            if attempt.status != 503:
                backoff = min(backoff * 2, MAX_BACKOFF)


async def _connected(client: HttpClient) -> None:
    """Open (or reopen an idle) connection before sending, so its port is known while the request is in flight."""
    if client.writer is not None and time.monotonic() - client.last_used > common.IDLE_RECONNECT_SECONDS:
        await client.close()
    if client.writer is None:
        await client.open()


def _error_code(body: bytes) -> str | None:
    answer = _json_or_none(body)
    return answer.get("code") if isinstance(answer, dict) else None


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _seconds(retry_after: str | None) -> float:
    try:
        return float(retry_after) if retry_after else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER


# ------------------------------------------------------------------------------------------------ a whole day


async def play_day(phone: Phone, visits: Sequence[common.SeededVisit], media: dict[str, VisitMedia]) -> None:
    for visit in visits:
        await play_visit(phone, visit, media[visit.id])


async def play_visit(phone: Phone, visit: common.SeededVisit, media: VisitMedia) -> None:
    """On the way, arrival, the steps and photos of the standard, the test, the signature over the work-order
    summary, the service card, checkout and completion: what tests/integration/test_audit_e2e.py plays, plus the
    optional facts a real day has (consent, notes, questions, a 'before' photo)."""
    rng, v = phone.rng, visit.id
    await phone.post_fact("on-my-way", v, phone.fact(etaMinutes=rng.randrange(5, 40)))
    await phone.post_fact("arrival", v, phone.fact(location=phone.fix(visit)))
    await phone.post_fact("steps", v, phone.fact(step="V-ID"))
    await phone.upload("photos", v, phone.fact(purpose="shoe_covers"), media.photos["shoe_covers"], "IMG_1.jpg")
    await phone.post_fact("steps", v, phone.fact(step="V-MAT"))
    if rng.random() < 0.5:
        scope = rng.choice(("bedroom_or_study", "move_items", "use_facilities"))
        await phone.post_fact("steps", v, phone.fact(step="V-CONSENT", consentScope=scope))
    if "before" in media.photos:
        await phone.upload("photos", v, phone.fact(purpose="before"), media.photos["before"], "IMG_2.jpg")
    if rng.random() < 0.3:
        text = f"Router moved to the hallway shelf, cable run {rng.randrange(3, 30)} m."
        await phone.post_fact("notes", v, phone.fact(topic="general", text=text))
    if rng.random() < 0.15:
        question = "Can the optical modem be moved to the study without a new drop cable?"
        await phone.post_fact("questions", v, phone.fact(question=question))
    test = phone.fact(
        downloadMbps=round(rng.uniform(200, 950), 1), uploadMbps=round(rng.uniform(20, 100), 1),
        latencyMs=round(rng.uniform(3, 30), 1), customerAccepted=True,
    )  # fmt: skip
    await phone.post_fact("test-result", v, test)
    await phone.upload("photos", v, phone.fact(purpose="site_clean"), media.photos["site_clean"], "IMG_3.jpg")
    summary = await phone.read("summary", v)
    # Without the summary the phone still collects a signature; the audit then flags the digest (V-SIGN).
    digest = summary.answer["digest"] if summary.final == 200 else "0" * 64
    signed = phone.fact(signerName="Li Wei", summaryDigest=digest)
    await phone.upload("signature", v, signed, media.signature, "sign.png")
    await phone.post_fact("service-card", v, phone.fact())
    await phone.post_fact("checkout", v, phone.fact(location=phone.fix(visit)))
    await phone.post_fact("complete", v, phone.fact(outcome="resolved"))


def requests_per_visit(replay_share: float) -> float:
    """Expected requests of one visit (play_visit's mix, replays included), to size the run before it starts."""
    facts = 11 + 0.5 + 0.5 + 0.3 + 0.15  # the fixed facts and uploads, then the optional ones
    return facts * (1 + replay_share) + 1  # + the summary read
