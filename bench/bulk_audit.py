"""Bulk re-audit benchmark (A-REAUDIT) on PostgreSQL, reported against a plain-read floor measured in the same run.

    .venv/bin/python bench/bulk_audit.py [--visits 100000] [--samples 300] [--keep-db] [--profile FILE]

1. Creates a fresh database, runs the real migrations, seeds N visits with realistic facts (COPY, untimed).
2. Floor: the rows the audit reads, one plain asyncpg SELECT per table set, no WHERE, all rows fetched.
3. Bulk re-audit from a cold state (no stored verdicts): VerdictService.reaudit_all over visit_ids_between().
4. The same bulk run again: nothing changed, so no verdict is written.
5. Single-visit re-audit after a new fact: the background auditor's whole round once the fact marked its visit due
   (VerdictService.audit_due: claim, the visits the fact affects, their re-audit and verdict writes, release), p50/p99.

Numbers, not assertions: benchmarks report, tests assert behaviour. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
from asyncpg.pgproto.pgproto import UUID as PgUUID

from fieldsvc import db
from fieldsvc.audit.geometry import distance_m
from fieldsvc.config import Settings
from fieldsvc.context import AppContext
from fieldsvc.mobile.schemas import (
    Checkin,
    CheckinResult,
    Fact,
    FactResult,
    Leave,
    Location,
    Note,
    OnMyWay,
    PhotoMeta,
    PhotoResult,
    Question,
    QuestionResult,
    ServiceCard,
    ServiceCardResult,
    ServiceTest,
    SignatureMeta,
    SignatureResult,
    Step,
)
from fieldsvc.verdicts import outbox, service as verdict_service
from fieldsvc.verdicts.service import (
    BULK_BATCH, BULK_WORKERS_MIN_BATCHES, VerdictService, affected_visits, visit_ids_between,
)

ADMIN_URL = os.environ.get("FIELDSVC_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
SLOTS = (timedelta(hours=0), timedelta(hours=2), timedelta(hours=4, minutes=30), timedelta(hours=6, minutes=30),
         timedelta(hours=8, minutes=30))  # a technician's five visits a day
VISITS_PER_TECHNICIAN_DAY = len(SLOTS)
HOTLINE, LEAFLET = "10000", "Winter care: keep your router ventilated and away from heaters."
CHEAT_RATE = 0.015  # per kind of cheating (late, far, mock, reused photo, edited photo, early photo, skewed clock)


def to_json(value: Any) -> str:
    """The JSON text of a struct or dict: what msgspec.to_builtins gives, as the phone API stores it (keys camelCase)."""
    return _encode(value).decode()


_encode = msgspec.json.encode
_random_bytes = random.Random(20260302).randbytes


def new_id() -> uuid.UUID:
    """A random UUID, several times cheaper than uuid.uuid4() for a million rows (asyncpg's C UUID type)."""
    return PgUUID(_random_bytes(16))


def hex_digits(rng: random.Random, count: int) -> str:
    return f"{rng.getrandbits(4 * count):0{count}x}"


# ---------------------------------------------------------------------------------------------------- seeding


@dataclass
class Seed:
    """Rows for COPY, per table, as tuples in the column order of COLUMNS."""

    technician: list[tuple] = field(default_factory=list)
    customer: list[tuple] = field(default_factory=list)
    site: list[tuple] = field(default_factory=list)
    work_order: list[tuple] = field(default_factory=list)
    visit: list[tuple] = field(default_factory=list)
    reschedule: list[tuple] = field(default_factory=list)
    visit_event: list[tuple] = field(default_factory=list)
    photo: list[tuple] = field(default_factory=list)
    photo_match: list[tuple] = field(default_factory=list)
    follow_up: list[tuple] = field(default_factory=list)
    completed_visits: list[uuid.UUID] = field(default_factory=list)
    visit_technician: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    visit_site: dict[uuid.UUID, tuple[float, float]] = field(default_factory=dict)


COLUMNS = {
    "technician": ("id", "staff_number", "name", "phone", "team"),
    "customer": ("id", "name", "phone", "tier"),
    "site": ("id", "customer", "address", "latitude", "longitude", "locality", "time_zone"),
    "work_order": (
        "id", "kind", "customer", "site", "accepted_at", "description", "reported_fault", "status", "contact_due_at",
        "first_response_due_at", "resolve_due_at", "first_contact_at", "closed_at", "outcome", "outcome_reason",
        "forced_close_reason", "created_by", "created_at",
    ),
    "visit": (
        "id", "work_order", "technician", "agreed_time", "original_agreed_time", "sla_shift_seconds",
        "expected_duration_min", "confirmed_channel", "confirmed_at", "booked_at", "booked_by", "late_reason",
        "customer_notified_at", "status", "verdict", "review_state", "created_at", "updated_at", "completed_at",
    ),
    "reschedule": (
        "id", "visit", "old_time", "new_time", "initiator", "reason_code", "note", "customer_confirmed", "recorded_by",
        "recorded_at", "compliant",
    ),
    "visit_event": (
        "id", "event_id", "visit", "technician", "kind", "body_digest", "payload", "result", "device_time",
        "device_elapsed_ms", "clock_offset_ms", "corrected_time", "time_source", "server_received_at", "latitude",
        "longitude", "accuracy_m", "fix_time", "mock", "distance_m",
    ),
    "photo": (
        "id", "event", "visit", "technician", "purpose", "status", "sha256", "perceptual_hash", "content_type",
        "byte_size", "width", "height", "original_key", "thumbnail_key", "display_key", "captured_at_utc",
        "captured_offset_known", "gps_latitude", "gps_longitude", "gps_distance_m", "camera_make", "camera_model",
        "software", "ink_coverage", "created_at",
    ),
    "photo_match": ("pair_key", "photo", "visit", "other_photo", "other_visit", "distance", "identical", "other_first"),
    "follow_up": (
        "id", "visit", "event", "customer_name", "customer_phone", "address", "question", "asked_at", "due_at",
        "resolved_at", "resolution",
    ),
}


@dataclass
class VisitPlan:
    """One visit's identity and the ways it cheats."""

    visit_id: uuid.UUID
    order_id: uuid.UUID
    technician: tuple  # the technician row
    site: tuple[float, float]
    locality: str
    agreed: datetime
    complete: bool
    late: bool = False
    far: bool = False
    mock: bool = False
    edited: bool = False
    early_photo: bool = False
    skewed: bool = False


class Seeder:
    """Realistic facts, shaped exactly like the phone API stores them (payload = the request struct, result = the answer)."""

    def __init__(self, visits: int, technicians: int, seed: int = 20260302):
        self.n = visits
        self.rng = random.Random(seed)
        self.data = Seed()
        self.technician_count = technicians
        self.orders: dict[uuid.UUID, list] = {}
        self.photos_for_reuse: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, str]] = []  # photo, visit, tech, sha, phash

    def build(self) -> Seed:
        rng, data = self.rng, self.data
        centres = []
        for t in range(self.technician_count):
            data.technician.append(
                (new_id(), f"T{10000 + t}", f"Technician {t}", f"1380000{t:04d}", ("north", "south", "east")[t % 3])
            )
            centres.append((30.5 + rng.uniform(-0.6, 0.6), 120.8 + rng.uniform(-0.8, 0.8)))
        last_repair: dict[int, tuple[uuid.UUID, tuple[float, float], str, datetime]] = {}  # technician -> yesterday's repair
        for i in range(self.n):
            t, k = i % self.technician_count, i // self.technician_count
            day, slot = divmod(k, VISITS_PER_TECHNICIAN_DAY)
            agreed = START + timedelta(days=day) + SLOTS[slot] + timedelta(minutes=rng.choice((0, 0, 0, 30)))
            technician = data.technician[t]
            revisit = last_repair.get(t) if slot == VISITS_PER_TECHNICIAN_DAY - 1 and day % 2 == 1 else None
            if revisit is not None:
                order_id, site, locality, _ = revisit
                del last_repair[t]
            else:
                order_id, site, locality, kind = self._order(centres[t], agreed)
                if kind == "repair" and slot == VISITS_PER_TECHNICIAN_DAY - 1:
                    last_repair[t] = (order_id, site, locality, agreed)
            plan = VisitPlan(
                visit_id=new_id(), order_id=order_id, technician=technician, site=site, locality=locality,
                agreed=agreed, complete=rng.random() > 0.04,
                late=rng.random() < CHEAT_RATE, far=rng.random() < CHEAT_RATE, mock=rng.random() < CHEAT_RATE,
                edited=rng.random() < CHEAT_RATE, early_photo=rng.random() < CHEAT_RATE, skewed=rng.random() < 0.03,
            )
            self._visit(plan, revisit is not None)
        self._close_orders()
        return data

    def _order(self, centre: tuple[float, float], agreed: datetime) -> tuple[uuid.UUID, tuple[float, float], str, str]:
        rng, data = self.rng, self.data
        customer_id, site_id, order_id = new_id(), new_id(), new_id()
        tier = rng.choices(("diamond", "gold", "silver", "standard"), (1, 3, 6, 20))[0]
        data.customer.append((customer_id, f"Customer {len(data.customer)}", f"1390000{len(data.customer) % 10000:04d}", tier))
        site = (centre[0] + rng.uniform(-0.08, 0.08), centre[1] + rng.uniform(-0.08, 0.08))
        locality = "urban" if rng.random() < 0.7 else "rural"
        data.site.append(
            (site_id, customer_id, f"{rng.randint(1, 999)} Some Road, Building {rng.randint(1, 40)}", site[0], site[1],
             locality, "Asia/Shanghai")
        )
        kind = "install" if rng.random() < 0.5 else "repair"
        accepted = agreed - timedelta(hours=rng.uniform(3, 20))
        first_contact = None if rng.random() < CHEAT_RATE else accepted + timedelta(minutes=rng.uniform(5, 90))
        repair = kind == "repair"
        self.orders[order_id] = [  # a list: closing the order (status, closed_at, outcome) fills it in later
            order_id, kind, customer_id, site_id, accepted, "Broadband " + kind, "no signal" if repair else None, "open",
            accepted + timedelta(hours=8), accepted + timedelta(hours=2) if repair else None,
            accepted + timedelta(hours=24) if repair else None, first_contact, None, None, None, None, None, accepted,
        ]
        data.work_order.append(self.orders[order_id])
        return order_id, site, locality, kind

    def _visit(self, plan: VisitPlan, revisit: bool) -> None:
        rng, data = self.rng, self.data
        order = self.orders[plan.order_id]
        accepted = order[4]
        booked = accepted + timedelta(minutes=rng.uniform(10, 60)) if not revisit else plan.agreed - timedelta(hours=20)
        original = plan.agreed
        if rng.random() < 0.03:  # the customer moved it once, with notice
            original = plan.agreed - timedelta(days=1)
            data.reschedule.append(
                (new_id(), plan.visit_id, original, plan.agreed, "customer", "customer_requested", "", True, None,
                 booked + timedelta(minutes=30), True)
            )
        status = "completed" if plan.complete else "on_site"
        events_end = self._events(plan, accepted)
        completed_at = events_end if plan.complete else None
        data.visit.append(
            (plan.visit_id, plan.order_id, plan.technician[0], plan.agreed, original, 0, 60, "phone",
             booked + timedelta(minutes=5), booked, None, None, None, status, "pending", "none", booked,
             completed_at or booked, completed_at)
        )
        data.visit_technician[plan.visit_id] = plan.technician[0]
        data.visit_site[plan.visit_id] = plan.site
        if plan.complete:
            data.completed_visits.append(plan.visit_id)
            order[7], order[12], order[13] = "closed", completed_at, "resolved"

    def _close_orders(self) -> None:
        self.data.work_order = [tuple(row) for row in self.data.work_order]

    # -- facts

    def _events(self, plan: VisitPlan, accepted: datetime) -> datetime:
        """Write the visit's facts; return the true time of the last one."""
        rng = self.rng
        skew = timedelta(seconds=rng.choice((-1, 1)) * rng.uniform(300, 900)) if plan.skewed else timedelta(
            seconds=rng.uniform(-20, 20))
        offline = rng.random() < 0.05
        clock = _Clock(plan, skew, offline, rng)
        arrival = plan.agreed + timedelta(minutes=45 if plan.late else rng.uniform(-8, 8))
        t = arrival
        if rng.random() < 0.5:
            self._fact(plan, clock, "on_my_way", arrival - timedelta(minutes=30),
                       lambda f: OnMyWay(**f, eta_minutes=30), FactResult)
        self._checkin(plan, clock, "arrival", t, far=plan.far)
        self._fact(plan, clock, "step", t + timedelta(minutes=1), lambda f: Step(**f, step="V-ID"), FactResult)
        if plan.locality == "urban" or rng.random() < 0.6:
            self._photo(plan, clock, "shoe_covers", t + timedelta(minutes=3))
        else:
            self._fact(plan, clock, "note", t + timedelta(minutes=3),
                       lambda f: Note(**f, topic="shoe_covers_reason", text="customer asked us to keep shoes on"),
                       FactResult)
        self._fact(plan, clock, "step", t + timedelta(minutes=5), lambda f: Step(**f, step="V-MAT"), FactResult)
        self._photo(plan, clock, "tool_mat", t + timedelta(minutes=6))
        if rng.random() < 0.03:
            self._fact(plan, clock, "leave", t + timedelta(minutes=20),
                       lambda f: Leave(**f, will_return=True, reason="fetching a longer cable"), FactResult)
            self._checkin(plan, clock, "return", t + timedelta(minutes=40))
        if rng.random() < 0.05:
            self._question(plan, clock, t + timedelta(minutes=30))
        if not plan.complete:
            return t + timedelta(minutes=30)
        self._fact(plan, clock, "test_result", t + timedelta(minutes=50),
                   lambda f: ServiceTest(**f, download_mbps=rng.uniform(200, 950), upload_mbps=rng.uniform(30, 110),
                                         latency_ms=rng.uniform(3, 25), customer_accepted=True), FactResult)
        self._photo(plan, clock, "site_clean", t + timedelta(minutes=55))
        self._service_card(plan, clock, t + timedelta(minutes=57))
        self._photo(plan, clock, "signature", t + timedelta(minutes=58))
        self._checkin(plan, clock, "checkout", t + timedelta(minutes=60))
        self._completion(plan, clock, t + timedelta(minutes=61))
        return t + timedelta(minutes=61)

    def _row(self, plan: VisitPlan, clock: _Clock, kind: str, true_time: datetime, event_id: uuid.UUID, payload: Any,
             result: Any, location: tuple | None = None) -> uuid.UUID:
        """One VisitEvent row; payload and result are the request struct and the answer (or their builtins)."""
        row_id = new_id()
        lat = lon = acc = fix_time = mock = distance = None
        if location is not None:
            lat, lon, acc, fix_time, mock = location
            distance = distance_m(lat, lon, *plan.site)
        digest = hashlib.sha256(f"{kind}{event_id}".encode()).hexdigest()
        self.data.visit_event.append(
            (row_id, event_id, plan.visit_id, plan.technician[0], kind, digest, to_json(payload), to_json(result),
             clock.device(true_time), clock.elapsed(true_time), clock.offset_ms, clock.corrected(true_time), "offset",
             clock.received(true_time), lat, lon, acc, fix_time, mock, distance)
        )
        return row_id

    def _base(self, clock: _Clock, true_time: datetime) -> dict[str, Any]:
        return {"event_id": new_id(), "device_time": clock.device(true_time), "device_elapsed_ms": clock.elapsed(true_time)}

    def _result(self, plan: VisitPlan, clock: _Clock, kind: str, true_time: datetime, event_id: uuid.UUID) -> dict[str, Any]:
        return dict(
            event_id=event_id, visit_id=plan.visit_id, kind=kind, visit_status="on_site",
            received_at=clock.received(true_time), corrected_time=clock.corrected(true_time), time_source="offset",
            clock_offset_ms=clock.offset_ms,
        )

    def _fact(self, plan: VisitPlan, clock: _Clock, kind: str, true_time: datetime, body, result_type) -> uuid.UUID:
        fact = body(self._base(clock, true_time))
        result = result_type(**self._result(plan, clock, kind, true_time, fact.event_id))
        return self._row(plan, clock, kind, true_time, fact.event_id, fact, result)

    def _checkin(self, plan: VisitPlan, clock: _Clock, kind: str, true_time: datetime, far: bool = False) -> None:
        rng = self.rng
        metres = rng.uniform(2500, 4000) if far else rng.uniform(0, 40)
        bearing = rng.uniform(0, 6.283)
        import math

        lat = plan.site[0] + metres * math.cos(bearing) / 111_320
        lon = plan.site[1] + metres * math.sin(bearing) / (111_320 * math.cos(math.radians(plan.site[0])))
        accuracy = rng.choice((5.0, 8.0, 12.0, 20.0, 35.0)) if rng.random() > 0.02 else 250.0
        mock = plan.mock and kind == "arrival"
        location = Location(latitude=lat, longitude=lon, accuracy_m=accuracy, fix_time=clock.device(true_time), mock=mock)
        fact = Checkin(**self._base(clock, true_time), location=location)
        result = CheckinResult(
            **self._result(plan, clock, kind, true_time, fact.event_id),
            distance_m=round(distance_m(lat, lon, *plan.site), 1), accuracy_m=accuracy,
        )
        self._row(plan, clock, kind, true_time, fact.event_id, fact, result, (lat, lon, accuracy, clock.device(true_time), mock))

    def _question(self, plan: VisitPlan, clock: _Clock, true_time: datetime) -> None:
        follow_up_id = new_id()
        asked = clock.corrected(true_time)
        fact = Question(**self._base(clock, true_time), question="Can I get a static IP address?")
        result = QuestionResult(**self._result(plan, clock, "question", true_time, fact.event_id),
                                follow_up_id=follow_up_id, due_at=asked + timedelta(hours=48))
        row_id = self._row(plan, clock, "question", true_time, fact.event_id, fact, result)
        resolved = asked + timedelta(hours=self.rng.uniform(2, 60)) if self.rng.random() < 0.8 else None
        self.data.follow_up.append(
            (follow_up_id, plan.visit_id, row_id, "Customer", "13900000000", "1 Some Road", "Can I get a static IP address?",
             asked, asked + timedelta(hours=48), resolved, "answered by phone" if resolved else None)
        )

    def _service_card(self, plan: VisitPlan, clock: _Clock, true_time: datetime) -> None:
        technician = plan.technician
        card = ServiceCard(technician_name=technician[2], staff_number=technician[1], technician_phone=technician[3],
                           hotline=HOTLINE, leaflet=LEAFLET)
        self._fact(plan, clock, "service_card", true_time, lambda f: Fact(**f),
                   lambda **r: ServiceCardResult(**r, card=card))

    def _completion(self, plan: VisitPlan, clock: _Clock, true_time: datetime) -> None:
        """No phone struct exists yet for completion: the payload keys the loader reads (camelCase, like the others)."""
        fact = Fact(**self._base(clock, true_time))
        payload = {**msgspec.to_builtins(fact), "outcome": "resolved"}
        if self.rng.random() < 0.05:
            payload["terminal"] = {"customerEquipmentFault": True, "explanation": "old router, replaced by customer",
                                   "helpGiven": True}
        result = FactResult(**self._result(plan, clock, "completion", true_time, fact.event_id))
        self._row(plan, clock, "completion", true_time, fact.event_id, payload, result)

    def _photo(self, plan: VisitPlan, clock: _Clock, purpose: str, true_time: datetime) -> None:
        rng, data = self.rng, self.data
        signature = purpose == "signature"
        photo_id = new_id()
        sha, phash = hex_digits(rng, 64), hex_digits(rng, 16)
        reused = None
        if not signature and purpose == "site_clean" and self.photos_for_reuse and rng.random() < CHEAT_RATE:
            reused = rng.choice(self.photos_for_reuse)
            sha, phash = reused[3], reused[4]
        base = self._base(clock, true_time)
        captured_device = clock.device(true_time) - timedelta(seconds=2)
        if plan.early_photo and purpose == "tool_mat":
            captured_device -= timedelta(hours=2)
        captured_utc = captured_device if rng.random() > 0.03 else None
        if signature:
            meta = SignatureMeta(**base, signer_name="Customer", summary_digest=hex_digits(rng, 64))
            expected = meta.summary_digest if rng.random() > 0.01 else hex_digits(rng, 64)
            ink = 0.0005 if rng.random() < 0.01 else rng.uniform(0.01, 0.06)
            result = SignatureResult(
                **self._result(plan, clock, "signature", true_time, meta.event_id), photo_id=photo_id, purpose=purpose,
                content_type="image/png", byte_size=24_000, width=800, height=400, sha256=sha, captured_at=None,
                signer_name=meta.signer_name, summary_digest=meta.summary_digest, expected_digest=expected,
                ink_coverage=ink,
            )
        else:
            meta = PhotoMeta(**base, purpose=purpose)
            ink = None
            result = PhotoResult(
                **self._result(plan, clock, "photo", true_time, meta.event_id), photo_id=photo_id, purpose=purpose,
                content_type="image/jpeg", byte_size=rng.randint(1_500_000, 4_000_000), width=4000, height=3000,
                sha256=sha, captured_at=captured_utc,
            )
        payload = {**msgspec.to_builtins(meta), "fileSha256": sha}
        event_row = self._row(plan, clock, "signature" if signature else "photo", true_time, meta.event_id, payload, result)
        gps = None
        if not signature and rng.random() < 0.7:
            gps = (plan.site[0] + rng.uniform(-0.0002, 0.0002), plan.site[1] + rng.uniform(-0.0002, 0.0002))
        software = "Snapseed 2.0" if plan.edited and purpose == "tool_mat" else (None if signature else "HDR+ 1.0")
        data.photo.append(
            (photo_id, event_row, plan.visit_id, plan.technician[0], purpose, "accepted", sha, phash,
             "image/png" if signature else "image/jpeg", 24_000 if signature else 2_500_000,
             800 if signature else 4000, 400 if signature else 3000, f"{sha}/original", f"{sha}/thumb", f"{sha}/display",
             None if signature else captured_utc, False, gps and gps[0], gps and gps[1],
             gps and distance_m(gps[0], gps[1], *plan.site), None if signature else "Xiaomi",
             None if signature else "Redmi Note 12", software, ink, clock.received(true_time))
        )
        if reused is not None:
            other_photo, other_visit = reused[0], reused[1]
            # The other visit's photo came first: this visit is the one that reused it.
            data.photo_match.append(
                (f"{photo_id}:{other_photo}", photo_id, plan.visit_id, other_photo, other_visit, 0, True, True)
            )
            data.photo_match.append(
                (f"{other_photo}:{photo_id}", other_photo, other_visit, photo_id, plan.visit_id, 0, True, False)
            )
        elif not signature and rng.random() < 0.01:
            self.photos_for_reuse.append((photo_id, plan.visit_id, plan.technician[0], sha, phash))


class _Clock:
    """A phone clock off by `skew`; facts reach the server seconds later (or, offline, an hour later in one sync)."""

    def __init__(self, plan: VisitPlan, skew: timedelta, offline: bool, rng: random.Random):
        self.skew = skew
        self.delay = timedelta(minutes=rng.uniform(70, 120)) if offline else None
        self.latency = timedelta(milliseconds=rng.randint(150, 900))
        # Server receipt minus the device wall clock at send.
        self.offset_ms = round((self.latency - skew) / timedelta(milliseconds=1))
        self.boot = plan.agreed - timedelta(hours=rng.uniform(1, 200))

    def device(self, true_time: datetime) -> datetime:
        return true_time + self.skew

    def received(self, true_time: datetime) -> datetime:
        return true_time + (self.delay if self.delay is not None else self.latency)

    def corrected(self, true_time: datetime) -> datetime:
        return min(self.device(true_time) + timedelta(milliseconds=self.offset_ms), self.received(true_time))

    def elapsed(self, true_time: datetime) -> int:
        return int((true_time - self.boot) / timedelta(milliseconds=1))


async def copy_seed(connection: asyncpg.Connection, seed: Seed) -> dict[str, int]:
    """COPY every table; the rows are consistent by construction, so foreign-key triggers are skipped while loading."""
    counts = {}
    await connection.execute("SET session_replication_role = replica")
    try:
        for table, columns in COLUMNS.items():
            rows = getattr(seed, table)
            counts[table] = len(rows)
            if rows:
                await connection.copy_records_to_table(table, records=rows, columns=list(columns))
    finally:
        await connection.execute("SET session_replication_role = DEFAULT")
    await connection.execute("VACUUM ANALYZE")  # a long-lived database has its visibility map and statistics
    return counts


# ---------------------------------------------------------------------------------------------------- floor

# Every column the audit loader reads, one plain SELECT per table set, no filter: the cheapest way to get the
# same rows into Python. The bulk re-audit reads these rows (and writes verdicts) in batches; this reads them once.
FLOOR_QUERIES = {
    "visit+order+customer+site": """
        SELECT v.id, v.work_order, v.technician, v.agreed_time, v.booked_at, v.late_reason, v.customer_notified_at,
               o.kind, o.accepted_at, o.first_contact_at, o.outcome, o.closed_at, o.forced_close_reason,
               c.tier, s.latitude, s.longitude, s.locality, s.time_zone
        FROM visit v JOIN work_order o ON o.id = v.work_order JOIN customer c ON c.id = o.customer
        JOIN site s ON s.id = o.site""",
    "visit_event": """
        SELECT id, event_id, visit, technician, kind, payload, result, device_time, clock_offset_ms, corrected_time,
               server_received_at, latitude, longitude, accuracy_m, mock, fix_time, device_elapsed_ms, time_source,
               device, device_boot, batch_position
        FROM visit_event""",
    "photo": """
        SELECT id, event, visit, purpose, sha256, perceptual_hash, captured_at_utc, gps_latitude, gps_longitude,
               software, ink_coverage, fine_hash, captured_offset_known, gps_fixed_at
        FROM photo WHERE status = 'accepted'""",
    "photo_match": "SELECT visit, other_photo FROM photo_match",
    "follow_up": "SELECT event, asked_at, question, customer_name, customer_phone, address, resolved_at FROM follow_up",
    "reschedule": """
        SELECT id, visit, old_time, new_time, initiator, reason_code, customer_confirmed, recorded_at, note
        FROM reschedule""",
}


async def measure_floor(connection: asyncpg.Connection, rounds: int = 3) -> tuple[float, float, dict[str, int]]:
    """The floor: best of `rounds` with Python's cyclic GC paused while the rows pile up (the first round also warms
    the cache). A million-row result list makes the GC rescan it over and over, which would flatter any ratio, so
    the GC-on time of the same plain fetch is returned too, for information only."""
    best, counts = float("inf"), {}
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            results = [await connection.fetch(sql) for sql in FLOOR_QUERIES.values()]
            best = min(best, time.perf_counter() - started)
        finally:
            gc.enable()
        counts = {name: len(rows) for name, rows in zip(FLOOR_QUERIES, results)}
        del results
    gc.collect()
    started = time.perf_counter()
    for sql in FLOOR_QUERIES.values():
        await connection.fetch(sql)
    with_gc = time.perf_counter() - started
    return best, with_gc, counts


# ---------------------------------------------------------------------------------------------------- runs


async def bulk(
    ctx: AppContext, visit_ids: list[uuid.UUID], profile: cProfile.Profile | None = None
) -> tuple[float, float]:
    """Wall seconds of reaudit_all, and the CPU seconds of this process and its (bulk worker) children."""
    shown = [0.0]

    def progress(done: int) -> None:
        now = time.perf_counter()
        if now - shown[0] > 2 or done == len(visit_ids):
            shown[0] = now
            print(f"\r  {done:>8,} / {len(visit_ids):,}", end="", file=sys.stderr, flush=True)

    started, cpu = time.perf_counter(), os.times()
    if profile is not None:
        profile.enable()
    await VerdictService(ctx).reaudit_all(visit_ids, progress)
    if profile is not None:
        profile.disable()
    elapsed, after = time.perf_counter() - started, os.times()
    print(file=sys.stderr)
    return elapsed, sum(after[:4]) - sum(cpu[:4])


async def trail_and_verdict_counts(connection: asyncpg.Connection) -> tuple[int, int, int]:
    return (
        await connection.fetchval("SELECT count(*) FROM audit_result"),
        await connection.fetchval("SELECT count(*) FROM trail_entry"),
        await connection.fetchval("SELECT count(*) FROM audit_finding"),
    )


async def single_visit(ctx: AppContext, connection: asyncpg.Connection, seed: Seed, samples: int,
                       rng: random.Random) -> tuple[list[float], float, int]:
    """A new fact arrives (half of them change the verdict: a check-out far from the site) and marks its visit due, as
    the fact's transaction does; then the background auditor's whole round is timed: claim, the visits the fact
    affects, their re-audit and verdict writes, release."""
    timings, affected, changed_before = [], 0, await connection.fetchval("SELECT count(*) FROM trail_entry")
    for sample in range(samples):
        visit_id = rng.choice(seed.completed_visits)
        technician = seed.visit_technician[visit_id]
        site = seed.visit_site[visit_id]
        now = datetime.now(UTC)
        when = await connection.fetchval("SELECT max(corrected_time) FROM visit_event WHERE visit = $1", visit_id)
        event_id = new_id()
        if sample % 2:
            kind, payload, location = "note", {"eventId": str(event_id), "deviceTime": when.isoformat(),
                                               "deviceElapsedMs": None, "topic": "general", "text": "customer happy"}, None
        else:
            lat, lon = site[0] + 0.01, site[1] + 0.01  # about 1.4 km away
            kind = "checkout"
            payload = {"eventId": str(event_id), "deviceTime": when.isoformat(), "deviceElapsedMs": None,
                       "location": {"latitude": lat, "longitude": lon, "accuracyM": 10.0, "fixTime": when.isoformat(),
                                    "mock": False}}
            location = (lat, lon, 10.0, when, False, distance_m(lat, lon, *site))
        lat, lon, acc, fix_time, mock, distance = location or (None,) * 6
        await connection.execute(
            "INSERT INTO visit_event (id, event_id, visit, technician, kind, body_digest, payload, result, device_time, "
            "device_elapsed_ms, clock_offset_ms, corrected_time, time_source, server_received_at, latitude, longitude, "
            "accuracy_m, fix_time, mock, distance_m) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, 0, $9, 'offset', "
            "$10, $11, $12, $13, $14, $15, $16)",
            new_id(), event_id, visit_id, technician, kind, "0" * 64, json.dumps(payload), "{}", when + timedelta(
                seconds=1), now, lat, lon, acc, fix_time, mock, distance,
        )
        located = location is not None
        affected += 1 + len(await affected_visits([visit_id], [visit_id] if located else []))
        await outbox.mark(visit_id, located, now)  # what the fact's own transaction does
        started = time.perf_counter()
        assert await VerdictService(ctx).audit_due() == 1  # what the background auditor then does, all of it
        timings.append((time.perf_counter() - started) * 1000)
    changed = await connection.fetchval("SELECT count(*) FROM trail_entry") - changed_before
    return timings, affected / samples, changed


async def neighbour_index(connection: asyncpg.Connection) -> str | None:
    """The name of an index of visit_event that starts with (technician, corrected_time), if the migrations made one."""
    return await connection.fetchval(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'visit_event' "
        "AND indexdef LIKE '%(technician, corrected_time%'"
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def main(args: argparse.Namespace) -> int:
    admin = await asyncpg.connect(args.admin_url)
    name = f"fieldsvc_bench_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(args.admin_url)._replace(path=f"/{name}"))
    print(f"database {name}", file=sys.stderr)
    ctx = None
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            ctx = AppContext.from_settings(Settings(database_url=url, data_dir=data_dir, secret_key="bench-secret-key"))
            await db.migrate(ctx.engine)
            await db.open_database(ctx.engine)
            connection = await asyncpg.connect(url)
            try:
                return await run(args, ctx, connection)
            finally:
                await connection.close()
                await db.close_database(ctx.engine)
    finally:
        if args.keep_db or args.seed_only:
            print(f"kept database {url}", file=sys.stderr)
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run(args: argparse.Namespace, ctx: AppContext, connection: asyncpg.Connection) -> int:
    technicians = args.technicians or max(4, args.visits // 500)
    index = await neighbour_index(connection) or "NONE (each batch scans visit_event)"
    started = time.perf_counter()
    seed = Seeder(args.visits, technicians).build()
    built = time.perf_counter()
    counts = await copy_seed(connection, seed)
    print(f"seeded in {built - started:.1f} s + {time.perf_counter() - built:.1f} s COPY: "
          + ", ".join(f"{table} {count:,}" for table, count in counts.items()), file=sys.stderr)

    if args.seed_only:
        return 0
    floor, floor_with_gc, floor_rows = await measure_floor(connection)
    print(f"floor {floor:.2f} s (GC on: {floor_with_gc:.2f} s): " + ", ".join(f"{k} {v:,}" for k, v in floor_rows.items()),
          file=sys.stderr)

    visit_ids = await visit_ids_between(None, None)
    profile = cProfile.Profile() if args.profile else None
    if profile is not None:
        verdict_service.BULK_WORKERS = 1  # profile the work itself, in this process
    cold, cold_cpu = await bulk(ctx, visit_ids, profile)
    results, trail, findings = await trail_and_verdict_counts(connection)
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"profile of the cold bulk run written to {args.profile}", file=sys.stderr)
    warm, warm_cpu = await bulk(ctx, visit_ids)
    _, trail_after, _ = await trail_and_verdict_counts(connection)

    timings, affected, single_changed = await single_visit(ctx, connection, seed, args.samples, random.Random(7))
    from fieldsvc.trail.service import verify_trail

    checked, broken = await verify_trail(ctx)

    n = len(visit_ids)
    rows = [
        ("visits re-audited (N)", f"{n:,}"),
        ("facts: events / photos", f"{floor_rows['visit_event']:,} / {floor_rows['photo']:,}"),
        ("floor: plain read of the same rows (s)", f"{floor:.2f}"),
        ("  the same fetch with Python's GC on (s, not used)", f"{floor_with_gc:.2f}"),
        ("bulk cold re-audit (s)", f"{cold:.2f}"),
        ("bulk cold visits/s", f"{n / cold:,.0f}"),
        ("bulk cold / floor", f"{cold / floor:.2f}x"),
        ("  Python CPU of the cold run (s, all processes)", f"{cold_cpu:.1f}"),
        ("  verdicts stored / trail entries / finding rows", f"{results:,} / {trail:,} / {findings:,}"),
        ("bulk unchanged re-audit (s)", f"{warm:.2f}"),
        ("bulk unchanged visits/s", f"{n / warm:,.0f}"),
        ("bulk unchanged / floor", f"{warm / floor:.2f}x"),
        ("  Python CPU of the unchanged run (s)", f"{warm_cpu:.1f}"),
        ("  trail entries written by the unchanged run", f"{trail_after - trail:,}"),
        (f"single-visit after a fact, {len(timings)} samples: p50 (ms)", f"{statistics.median(timings):.1f}"),
        ("single-visit p99 (ms)", f"{percentile(timings, 0.99):.1f}"),
        ("  visits re-audited per fact (avg) / verdicts changed", f"{affected:.1f} / {single_changed}"),
        ("trail chain verified", f"{checked:,} entries, " + ("intact" if broken is None else f"BROKEN at {broken.seq}")),
    ]
    width = max(len(label) for label, _ in rows)
    batches = -(-n // BULK_BATCH)
    processes = verdict_service.BULK_WORKERS if batches >= BULK_WORKERS_MIN_BATCHES else 1
    print(f"\nbulk re-audit on PostgreSQL, {os.cpu_count()} cores, {technicians} technicians, loop {loop_name()}, "
          f"{batches} batches of {BULK_BATCH} in {processes} process(es)")
    print(f"visit_event (technician, corrected_time) index: {index}")
    for label, value in rows:
        print(f"{label:<{width}}  {value:>18}")
    return 0 if broken is None else 1


def loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=100_000)
    parser.add_argument("--technicians", type=int, default=0, help="default: one per 500 visits (5 visits a day)")
    parser.add_argument("--samples", type=int, default=300, help="single-visit re-audits to time")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for inspection")
    parser.add_argument("--seed-only", action="store_true", help="seed, keep the database, measure nothing")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the cold bulk run into FILE (in one process)")
    parser.add_argument("--admin-url", default=ADMIN_URL, help="PostgreSQL URL allowed to CREATE DATABASE")
    parser.add_argument("--no-uvloop", action="store_true", help="use asyncio's own loop (the server runs on uvloop)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.no_uvloop:
        sys.exit(asyncio.run(main(arguments)))
    import uvloop

    sys.exit(uvloop.run(main(arguments)))
