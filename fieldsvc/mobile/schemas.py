"""Wire contract of the technician's phone: fact bodies and their results, uploads, the offline sync batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar.datastructures import UploadFile

from fieldsvc.mobile.clock import MAX_BOOT_COUNT, MAX_ELAPSED_MS, TimeSource
from fieldsvc.wire import Incoming, Instant, Latitude, LongText, Longitude, Reason, ShortText, Wire, shown_text

FactKind = Literal[
    "on_my_way", "arrival", "step", "note", "leave", "return", "test_result", "question", "service_card", "checkout",
    "completion", "photo_withdrawal",
]
PhotoPurpose = Literal["shoe_covers", "tool_mat", "site_clean", "test_result", "before", "after", "other"]
ConsentScope = Literal["bedroom_or_study", "move_items", "use_facilities"]
NoteTopic = Literal["shoe_covers_reason", "general"]
ImageContentType = Literal["image/jpeg", "image/png", "image/webp"]
# The steps the standard has a phone confirm; a policy's required items (V-CLOSE) name no others.
StepId = Annotated[
    Literal["V-ID", "V-MAT", "V-CONSENT", "V-SHOES"],
    msgspec.Meta(
        description="A rule id: V-ID, V-MAT, V-CONSENT (needs consentScope), V-SHOES (rural: the note is the reason)",
        examples=["V-ID"],
    ),
]
ElapsedMs = Annotated[
    int, msgspec.Meta(ge=0, le=MAX_ELAPSED_MS, description="The phone's monotonic clock (ms since boot)")
]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$", description="SHA-256, 64 lower-case hex digits")]
# A test figure (Mbps, ms): a million is beyond any line a phone can test, and 1e308 is garbage, not a measurement.
MAX_MEASURE = 1_000_000
Measure = Annotated[float, msgspec.Meta(ge=0, le=MAX_MEASURE)]
Text = shown_text(4000)  # a note or a question: blank, or drawn as nothing, it says nothing (a probe: " " was taken)


BootCount = Annotated[
    int,
    msgspec.Meta(
        ge=0, le=MAX_BOOT_COUNT,
        description="The phone's boot count when it happened (Android: Settings.Global.BOOT_COUNT), sent with "
        "deviceElapsedMs so a fact sent after a restart is known to be of an earlier boot",
    ),
]


class Fact(Incoming):
    """What every fact carries: the phone's id for it, and the phone's clocks when it happened (E-CLOCK)."""

    event_id: UUID
    device_time: Instant
    device_elapsed_ms: ElapsedMs | None = None
    device_boot: BootCount | None = None


class OnMyWay(Fact):
    eta_minutes: Annotated[int, msgspec.Meta(ge=0, le=24 * 60)] | None = None


class Location(Incoming):
    """A location fix as the phone reported it (V-CHECKIN, E-MOCK)."""

    latitude: Latitude
    longitude: Longitude
    accuracy_m: Annotated[float, msgspec.Meta(gt=0, le=100_000)]
    fix_time: Instant
    mock: bool


class Checkin(Fact, kw_only=True):
    """V-CHECKIN arrival, V-LEAVE return, V-CHECKOUT departure."""

    location: Location


class Step(Fact, kw_only=True):
    step: StepId
    note: LongText | None = None
    consent_scope: ConsentScope | None = None  # V-CONSENT


class Note(Fact, kw_only=True):
    topic: NoteTopic
    text: Text


class PhotoWithdrawal(Fact, kw_only=True):
    """A-DECIDE: a photo (or signature) of this visit sent by mistake, withdrawn while an auditor has it returned."""

    photo_id: UUID
    reason: Reason


class Leave(Fact, kw_only=True):
    """V-LEAVE: leaving the site for a while; without a return, the restore-by time promised to the customer."""

    will_return: bool
    reason: Reason
    restore_by: Instant | None = None


class ServiceTest(Fact, kw_only=True):
    """V-TEST: the service test result and whether the customer accepted it."""

    download_mbps: Measure
    upload_mbps: Measure
    latency_ms: Measure
    customer_accepted: bool


class Question(Fact, kw_only=True):
    """V-ASK: a question the technician could not answer on the spot."""

    question: Text


class PhotoMeta(Fact, kw_only=True):
    """The `meta` part of a photo upload."""

    purpose: PhotoPurpose


class SignatureMeta(Fact, kw_only=True):
    """The `meta` part of a signature upload (V-SIGN): who signed, and the digest of the summary they saw."""

    signer_name: ShortText
    summary_digest: Sha256Hex


class PresignPhoto(Fact, kw_only=True):
    """Announce a photo to upload straight to object storage; nothing counts until it is confirmed."""

    purpose: PhotoPurpose
    byte_size: Annotated[int, msgspec.Meta(gt=0)]
    sha256: Sha256Hex
    content_type: ImageContentType


@dataclass
class UploadForm:
    """multipart/form-data: `meta`, the JSON of the fact (PhotoMeta or SignatureMeta), and `file`, the image."""

    meta: str
    file: UploadFile


class FactResult(Wire):
    """What the service recorded for a fact; a replay of the same fact answers exactly this again."""

    event_id: UUID
    visit_id: UUID
    kind: str
    visit_status: str
    received_at: Instant
    corrected_time: Instant
    time_source: TimeSource
    clock_offset_ms: Annotated[
        int,
        msgspec.Meta(
            description="E-CLOCK: the offset applied, receipt of the request's headers minus X-Device-Clock; 0 when "
            "within 2 s (the request in flight, not skew), else whole seconds rounded down (the fraction is the flight)"
        ),
    ]


class CheckinResult(FactResult, kw_only=True):
    distance_m: float  # geodesic distance from the site
    accuracy_m: float


class PhotoWithdrawalResult(FactResult, kw_only=True):
    photo_id: UUID


class QuestionResult(FactResult, kw_only=True):
    follow_up_id: UUID
    due_at: Instant


class Terminal(Incoming):
    """V-TERMINAL: the fault was (or was not) the customer's own equipment, and what the customer was told."""

    customer_equipment_fault: bool
    explanation: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    help_given: bool | None = None


class Complete(Fact, kw_only=True):
    """V-CLOSE: the technician completes the visit; refused with the full list of what the policy still misses. A
    customer not at home: `customerAbsent`, outcome `unresolved` with a reason, after the arrival check-in, a wait of
    the visit's `customerAbsentWaitMin` from the later of the arrival and the agreed time, and a check-out pressed at
    the site (the wait ends there); no other item is needed, and none may show someone was at home (a work ID shown,
    shoe covers, tools on the mat, a consent, a question, an accepted test, an after or site-clean photo, a signature,
    a service card): a photo of the closed door goes as purpose `before`."""

    outcome: Literal["resolved", "unresolved"]
    reason: Reason | None = None  # required when unresolved
    terminal: Terminal | None = None
    customer_absent: Annotated[
        bool,
        msgspec.Meta(description="V-CLOSE: the customer was not at home (outcome unresolved; only check-in and "
                     "check-out needed, after the policy's wait at the site)"),
    ] = False


class CompletionResult(FactResult, kw_only=True):
    work_order_status: str
    outcome: str


class ServiceCard(Wire):
    """V-CARD: generated by the service, never typed on the phone."""

    technician_name: str
    staff_number: str
    technician_phone: str
    hotline: str
    leaflet: str


class ServiceCardResult(FactResult, kw_only=True):
    card: ServiceCard


class PhotoResult(FactResult, kw_only=True):
    photo_id: UUID
    purpose: str
    content_type: str
    byte_size: int
    width: int
    height: int
    sha256: str
    captured_at: Instant | None  # EXIF capture time, read in the site's zone when the photo names none


class SignatureResult(PhotoResult, kw_only=True):
    signer_name: str
    summary_digest: str  # what the phone showed
    expected_digest: str  # what the service generated; a difference is the audit's to flag (V-SIGN)
    ink_coverage: float
    # V-SIGN: the audit will find it blank (ink below the visit's policy minimum): have the customer sign again.
    # False in answers stored before it was given.
    blank: bool = False


class PresignResult(FactResult, kw_only=True):
    photo_id: UUID
    upload_url: str
    method: str
    headers: dict[str, str]
    expires_at: Instant


class Summary(Wire):
    """V-SIGN: the work-order summary the customer signs, and its SHA-256 digest."""

    text: str
    digest: str


class SyncFact(Incoming):
    """One item of a sync batch, read on its own so that a malformed item is rejected in its receipt alone."""

    type: FactKind
    visit_id: UUID
    body: dict[str, Any]  # the body the single endpoint of this type takes


SYNC_ITEM = msgspec.Meta(
    description=(
        'A fact: {"type": one of ' + ", ".join(FactKind.__args__) + ', "visitId": the visit\'s id, "body": the body '
        "that kind's own endpoint takes}. An item that is not one is rejected in its own receipt (validation.failed); "
        "the other items are applied all the same."
    ),
    examples=[{
        "type": "note", "visitId": "7b0c2a4e-2f4e-4a57-9d1c-3f8f5f2b9a10",
        "body": {"eventId": "5d1f6a2e-8c1b-4f0e-9a7d-2b3c4d5e6f70", "deviceTime": "2026-12-06T10:02:00+08:00",
                 "topic": "general", "text": "Customer asked to keep the old router"},
    }],
)


class SyncBatch(Incoming):
    facts: Annotated[list[Annotated[Any, SYNC_ITEM]], msgspec.Meta(min_length=1, max_length=500)]


class Receipt(Wire):
    index: int  # position in the batch
    event_id: UUID | None  # None when the body had no readable eventId
    status: Literal["accepted", "duplicate", "rejected"]
    code: str | None = None
    message: str | None = None
    result: dict[str, Any] | None = None


class SyncReceipts(Wire):
    receipts: list[Receipt]
