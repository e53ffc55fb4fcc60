"""Wire contract of the auditor API."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from fieldsvc.dispatch.schemas import VisitView, WorkOrderView
from fieldsvc.evidence.schemas import EvidenceUrl
from fieldsvc.visible import VISIBLE_CHARACTER
from fieldsvc.wire import Incoming, Instant, Wire

Decision = Literal["confirm", "dismiss", "return"]


class FindingView(Wire):
    rule_id: str
    code: str
    severity: str
    message_en: str
    message_zh: str
    measured: str | float | None
    threshold: str | float | None
    unit: str | None
    refs: list[str]
    # A-DECIDE: the latest decision that already covered this violation, so a visit back in the queue shows which of
    # its violations are new; None for a new one and for warnings.
    decided_in: UUID | None


class QueueEntry(Wire):
    visit_id: UUID
    work_order_id: UUID
    kind: str
    tier: str
    agreed_time: Instant
    technician_id: UUID | None
    technician_name: str | None
    team: str | None
    review_state: str
    violations: list[str]  # rule ids with a violation, for a glance
    verdict_digest: str  # what a decision on the verdict listed names, in this round of review (VerdictView.digest)
    site_time_zone: str
    site_local_time: str  # the agreed time on the site's clock, YYYY-MM-DD HH:MM


MAX_REQUESTED = 20


class DecideVisit(Incoming):
    decision: Decision
    # The verdict the auditor decides on, as the queue or the evidence view gave it: one that changed since (a late
    # fact, a passed deadline) is refused, so a decision covers only the violations its auditor was shown.
    verdict_digest: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""  # required for dismiss and return
    # What a return asks for: a technician reads the list on the phone, so a few items, each a line.
    requested: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=VISIBLE_CHARACTER)]],
        msgspec.Meta(max_length=MAX_REQUESTED),
    ] = []


class DecisionView(Wire):
    id: UUID
    visit_id: UUID
    auditor_id: UUID
    auditor_username: str
    decision: str
    reason: str
    requested: list[str]
    decided_at: Instant
    covers: list[str]  # the violations it covers, each its code and the facts it is about (A-DECIDE)


class TrustedArrivalView(Wire):
    """V-PUNCT: the arrival time the audit trusted, from which source, and why."""

    at: Instant
    source: str  # device_corrected | server_receipt | device_clock | first_photo | location_fix
    ref: str  # the check-in or photo it comes from
    reason_en: str
    reason_zh: str


class VerdictView(Wire):
    status: str
    policy_id: str | None
    policy_version: int | None
    trusted_arrival: TrustedArrivalView | None
    findings: list[FindingView]
    audited_at: Instant | None
    # A decision names it (verdictDigest), so it is taken on this verdict and no later one, in this round of review:
    # the verdict's digest, joined with the visit's decisions so far and its review state when it has any.
    digest: str | None


class TimelineEntry(Wire):
    """One fact with the raw and corrected times (E-CLOCK) and, for located facts, the distance (V-GEOFENCE)."""

    event_id: UUID
    kind: str
    device: str | None  # the phone's X-Device-Id, if it sent one
    device_boot: int | None  # the boot count the fact named (deviceBoot), if it did
    device_time: Instant | None
    device_elapsed_ms: int | None
    clock_offset_ms: int | None
    corrected_time: Instant
    time_source: str
    # The time the audit read the fact at: `corrected_time`, unless it re-read it by the monotonic clock of the
    # phone's boot (a send slow in flight, a wall clock moved across a restart), or a completion dated before a fact
    # the phone sent ahead of it, which counts from that fact's time. A check-in's trusted time is the verdict's
    # `trustedArrival`.
    audit_time: Instant
    server_received_at: Instant
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    mock: bool | None
    distance_m: float | None
    payload: dict[str, Any]
    result: dict[str, Any]


class PhotoEvidence(Wire):
    photo_id: UUID
    event_id: UUID
    purpose: str
    sha256: str
    width: int
    height: int
    captured_at: Instant | None  # EXIF capture time as the camera wrote it (before clock correction)
    gps_latitude: float | None
    gps_longitude: float | None
    gps_distance_m: float | None
    gps_fixed_at: Instant | None  # when the GPS fix was taken: long before the photo, it is no place (E-PLACE)
    camera_make: str | None
    camera_model: str | None
    software: str | None
    ink_coverage: float | None
    thumbnail: EvidenceUrl
    display: EvidenceUrl
    original: EvidenceUrl
    withdrawn: bool = False  # the technician withdrew it while the visit was returned; the audit no longer reads it


class VisitEvidence(Wire):
    """Everything an auditor needs to judge a visit; auditors read facts, they never change them."""

    visit: VisitView
    work_order: WorkOrderView  # the customer, the site (address, position, zone), the order's deadlines and visits
    verdict: VerdictView
    review_state: str  # A-DECIDE: none (undecided), open (back after a return), confirmed, dismissed, returned
    timeline: list[TimelineEntry]
    photos: list[PhotoEvidence]
    signature: PhotoEvidence | None  # the one V-SIGN judges: the latest signed, not withdrawn
    other_signatures: list[PhotoEvidence]  # blank, earlier or withdrawn ones, kept as evidence
    service_card: dict[str, Any] | None
    decisions: list[DecisionView]
