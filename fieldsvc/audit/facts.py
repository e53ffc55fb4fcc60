"""What the audit engine knows about a visit: plain frozen values the service builds from its rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

# Every datetime is timezone-aware UTC. Times the phone produced ("corrected") are its wall clock corrected by
# the clock offset the service measured when the phone synced (E-CLOCK); check-ins also keep the raw values,
# because the trusted arrival time (V-PUNCT) is chosen from them.

VisitKind = Literal["install", "repair"]
Tier = Literal["diamond", "gold", "silver", "standard"]
CheckinKind = Literal["arrival", "return", "checkout"]
PhotoPurpose = Literal["shoe_covers", "tool_mat", "site_clean", "test_result", "before", "after", "other"]
StepId = Literal["V-ID", "V-MAT", "V-CONSENT", "V-SHOES"]  # V-SHOES: a rural site's reason, as the note


# Visits whose technician is done at the site: completed, or returned by an auditor for evidence alone (A-DECIDE),
# which holds neither the technician's day nor the order's next visit.
DONE_ON_SITE = ("completed", "returned")


@dataclass(frozen=True, slots=True)
class SiteFacts:
    latitude: float
    longitude: float
    time_zone: str = "Asia/Shanghai"  # IANA zone, used to show times to auditors in site-local time


@dataclass(frozen=True, slots=True)
class RescheduleFacts:
    """B-RESCHED: one move of a visit's agreed time."""

    event_id: str
    visit_id: str
    old_time: datetime
    new_time: datetime
    initiator: Literal["customer", "company"]
    reason_code: str
    customer_confirmed: bool
    recorded_at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class RebookingFacts:
    """B-REPAIR: a visit booked after the order's previous one was cancelled or completed, which moved the order's
    appointment from that one's last agreed time to its own first."""

    visit_id: str
    previous_time: datetime
    agreed_time: datetime


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The work order a visit serves; order-level deadlines are judged on its first visit only."""

    order_id: str
    kind: VisitKind
    tier: Tier
    accepted_at: datetime
    first_visit_id: str
    first_contact_at: datetime | None = None
    resolved_at: datetime | None = None  # closed with outcome `resolved`
    forced_close_reason: str | None = None
    reschedules: tuple[RescheduleFacts, ...] = ()  # of every visit of the order (SLA references, B-REPAIR)
    # The first booking of the visit's round: of the order's visits booked since its last completed visit booked
    # before this one (all of them if none), cancelled ones included (B-CONTACT, B-FIRST, B-INSTALL-24).
    first_booked_at: datetime | None = None
    rebookings: tuple[RebookingFacts, ...] = ()  # of its visits after the first, in booking order (B-REPAIR)



def phone_id(technician_id: str, device_id: str | None) -> str:
    """One phone's id: its technician's, and the device id the app sent with its facts, if it sent one (a technician
    may carry a spare phone, whose clocks and boots are its own)."""
    return technician_id if device_id is None else f"{technician_id}/{device_id}"

@dataclass(frozen=True, slots=True)
class CheckinFacts:
    """V-CHECKIN: arrival, return after a leave, or checkout, with raw and corrected times."""

    event_id: str
    kind: CheckinKind
    latitude: float
    longitude: float
    accuracy_m: float
    device_time: datetime  # the phone's wall clock, as sent
    received_at: datetime  # the server's clock when the fact arrived
    corrected_time: datetime | None = None  # device_time corrected by the offset measured at sync, if measured
    mock: bool = False  # the phone reported the location as mock/simulated
    fix_time: datetime | None = None  # when the location fix was taken, as the phone reports it
    device_elapsed_ms: int | None = None  # the phone's monotonic clock at the check-in, when it sent one
    # The service corrected it by that monotonic clock, measured in the boot it was sent in (not by the wall clock, as
    # when none was sent, or one of an earlier boot after a restart): the wall clock's reading is borne out by it.
    by_monotonic: bool = False
    # Which phone sent it (`phone_id`): a visit handed over has facts from two, and so does a spare phone.
    phone_id: str = ""
    batch_position: int | None = None  # its place in the sync batch that sent it (a batch shares its receipt)


@dataclass(frozen=True, slots=True)
class ClockSyncFacts:
    """E-CLOCK: one measurement of the technician's device clock while it synced this visit's facts."""

    measured_at: datetime
    offset_s: float  # device wall clock minus server clock
    event_id: str = ""  # the fact whose request measured it
    phone_id: str = ""  # which phone it measured (`phone_id`)


@dataclass(frozen=True, slots=True)
class PhoneBoot:
    """When a technician's phone booted, as the monotonic times its facts sent tell."""

    at: datetime
    phone_id: str = ""  # which phone booted (`phone_id`)


@dataclass(frozen=True, slots=True)
class ClockMovedFacts:
    """E-CLOCK: a fact whose wall-clock time the monotonic clock of the boot it was recorded in contradicts: the clock
    was set back (or ahead), and put right before the fact was sent after a restart. The audit reads the fact at
    `by_boot`."""

    event_id: str
    by_wall: datetime
    by_boot: datetime


@dataclass(frozen=True, slots=True)
class StepFacts:
    """A step confirmation on the phone (V-ID, V-MAT, V-CONSENT; V-SHOES with a rural site's reason as its note)."""

    event_id: str
    step: StepId
    confirmed_at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class NoteFacts:
    """A free-text note tied to a rule, e.g. the reason a rural visit has no shoe-cover photo (V-SHOES)."""

    event_id: str
    rule_id: str
    text: str
    written_at: datetime


@dataclass(frozen=True, slots=True)
class LeaveFacts:
    """V-LEAVE: the technician temporarily left the site."""

    event_id: str
    left_at: datetime
    will_return: bool
    restore_by: datetime | None = None  # promised to the customer when not returning


@dataclass(frozen=True, slots=True)
class ServiceTestFacts:
    """V-TEST: a service test and whether the customer accepted it."""

    event_id: str
    tested_at: datetime
    customer_accepted: bool
    download_mbps: float | None = None
    upload_mbps: float | None = None
    latency_ms: float | None = None
    # Sent after the visit's first completion (an auditor returned the visit): when it counts, by the phone's
    # monotonic clock in the boot it was sent in, else when it reached the service.
    after_completion_at: datetime | None = None
    # ... and that time is its receipt: its check-outs are then read by their receipts too (a re-test on a second
    # trip, synced offline with the check-out after it, came with the check-out, not long after it; a probe).
    after_completion_by_receipt: bool = False

    @property
    def has_result(self) -> bool:
        return self.download_mbps is not None or self.upload_mbps is not None or self.latency_ms is not None


@dataclass(frozen=True, slots=True)
class AskFacts:
    """V-ASK: a customer question the technician could not answer on the spot."""

    event_id: str
    asked_at: datetime
    question: str
    customer_name: str
    customer_phone: str
    customer_address: str
    followed_up_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PhotoFacts:
    """A photo of this visit, with what its EXIF says and what the server computed from its bytes."""

    photo_id: str
    purpose: PhotoPurpose
    sha256: str
    perceptual_hash: str  # 64-bit dHash as 16 hex digits
    recorded_at: datetime  # corrected phone time at which the app recorded the photo
    captured_at: datetime | None = None  # EXIF DateTimeOriginal in UTC (its offset or the site zone), corrected
    latitude: float | None = None  # EXIF GPS
    longitude: float | None = None
    software: str | None = None  # EXIF Software
    captured_to_the_second: bool = False  # the EXIF time names a whole second, some moment of which it was taken
    exif_correction: timedelta = timedelta(0)  # what E-CLOCK added to the EXIF time (its fact's own correction)
    fine_hash: str | None = None  # 256-bit dHash as 64 hex digits (photos stored before it have none)
    received_at: datetime | None = None  # when its fact reached the service, by the server's clock
    capture_offset_tagged: bool = False  # the EXIF capture time came with its UTC offset: an instant, in no zone
    gps_fixed_at: datetime | None = None  # when its GPS fix was taken (UTC): a fix older than the photo is no place


@dataclass(frozen=True, slots=True)
class SignatureFacts:
    """V-SIGN: the customer's signature on the work-order summary."""

    event_id: str
    signer_name: str
    ink_ratio: float  # share of the pad its strokes would cover drawn with the standard pen (imaging)
    signed_at: datetime
    summary_digest: str  # digest of the summary the phone showed and the customer signed
    expected_digest: str  # digest the service computes of the summary it generated
    photo_id: str = ""  # the signature image, and the sha256 of its bytes
    sha256: str = ""
    image: PhotoFacts | None = None  # the image as a picture: a camera's EXIF time and place, if it has any


@dataclass(frozen=True, slots=True)
class CardFacts:
    """V-CARD: the service card as generated by the service and stored with the visit."""

    event_id: str
    handed_at: datetime  # the fact's trusted time
    technician_name: str
    staff_number: str
    contact_phone: str
    hotline: str
    leaflet: str


@dataclass(frozen=True, slots=True)
class CompletionFacts:
    """V-CLOSE / V-TERMINAL: how the technician completed the visit."""

    event_id: str
    outcome: Literal["resolved", "unresolved"]
    reason: str = ""  # required when unresolved
    customer_equipment_fault: bool = False
    terminal_explanation: str = ""
    terminal_help_given: bool | None = None
    customer_absent: bool = False  # the customer was not at home: completed unresolved after a wait at the site


@dataclass(frozen=True, slots=True)
class OnMyWayFacts:
    """The technician's "on my way" message: when the phone says it was sent, and when the service got it."""

    event_id: str
    at: datetime  # corrected like any fact
    received_at: datetime
    batch_position: int | None = None  # its place in the sync batch that sent it (a batch shares its receipt)


@dataclass(frozen=True, slots=True)
class VisitFacts:
    visit_id: str
    agreed_time: datetime  # the current punctuality reference (after every reschedule)
    booked_at: datetime
    site: SiteFacts
    order: OrderFacts
    install_late_reason: str | None = None  # B-INSTALL-24: customer_requested | resource_unavailable
    customer_notified_at: datetime | None = None  # B-INSTALL-24 with resource_unavailable
    checkins: tuple[CheckinFacts, ...] = ()
    clock_syncs: tuple[ClockSyncFacts, ...] = ()
    steps: tuple[StepFacts, ...] = ()
    notes: tuple[NoteFacts, ...] = ()
    leaves: tuple[LeaveFacts, ...] = ()
    tests: tuple[ServiceTestFacts, ...] = ()
    asks: tuple[AskFacts, ...] = ()
    photos: tuple[PhotoFacts, ...] = ()
    signature: SignatureFacts | None = None
    card: CardFacts | None = None
    completion: CompletionFacts | None = None  # None while the technician has not completed the visit
    on_my_way: tuple[OnMyWayFacts, ...] = ()
    # When each phone booted, by each fact that sent its monotonic clock (corrected time minus elapsed time): more than
    # one of a phone means it restarted, and a fact from before a restart was corrected as if from after it.
    boots: tuple[PhoneBoot, ...] = ()
    # When the technician first completed the visit (an auditor may return it, and it is completed again).
    first_completed_at: datetime | None = None
    withdrawals: tuple[WithdrawalFacts, ...] = ()  # photos withdrawn while the visit was returned (A-DECIDE)
    clock_moved: tuple[ClockMovedFacts, ...] = ()  # facts re-read by their boot's monotonic clock (E-CLOCK)
    first_returned_at: datetime | None = None  # when an auditor first returned the visit for correction (A-DECIDE)


@dataclass(frozen=True, slots=True)
class WithdrawalFacts:
    """A-DECIDE: a photo or signature of this visit the technician withdrew while an auditor had it returned."""

    event_id: str
    photo_id: str
    reason: str
    withdrawn_at: datetime


@dataclass(frozen=True, slots=True)
class OtherVisitPhoto:
    """E-REUSE: a photo of another visit (any technician) that may be the same picture.

    `matched_photo_id` and `recorded_distance`: the photo of this visit that ingest matched it with, and their
    distance then, taken over every orientation (a copy turned or mirrored has an unrelated hash as stored);
    `recorded_fine_distance` the same for their 256-bit fine hashes, None when either photo has none.
    """

    visit_id: str
    photo_id: str
    sha256: str
    perceptual_hash: str
    matched_photo_id: str | None = None
    recorded_distance: int | None = None
    recorded_fine_distance: int | None = None
    # Whether it reached the service before this visit's photo it matched (server clock): the later one is the reuse.
    # None when unknown, which counts as first.
    received_first: bool | None = None


@dataclass(frozen=True, slots=True)
class NeighbourFix:
    """E-MOCK: the technician's location fix just before or after this visit, from their other visits."""

    event_id: str
    visit_id: str
    at: datetime  # trusted time of that fix
    latitude: float
    longitude: float
    accuracy_m: float


@dataclass(frozen=True, slots=True)
class AuditContext:
    """What the audit needs beyond the visit itself; `now` makes deadline rules deterministic."""

    now: datetime
    other_photos: tuple[OtherVisitPhoto, ...] = ()
    neighbour_fixes: tuple[NeighbourFix, ...] = ()
