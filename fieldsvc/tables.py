"""Every Piccolo table of fieldsvc; client-visible rows use UUID keys."""

from piccolo.columns import (
    JSON,
    UUID,
    BigInt,
    BigSerial,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    Real,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Technician(Table, tablename="technician"):
    id = UUID(primary_key=True)
    staff_number = Varchar(length=32, unique=True)
    name = Varchar(length=128)
    phone = Varchar(length=32)
    team = Varchar(length=64, index=True)


class AppUser(Table, tablename="app_user"):
    id = UUID(primary_key=True)
    username = Varchar(length=64, unique=True)
    password_hash = Varchar(length=255)
    role = Varchar(length=16)  # technician | dispatcher | auditor | admin
    display_name = Varchar(length=128)
    technician = ForeignKey(references=Technician, null=True, unique=True)  # set for role technician
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class AuthToken(Table, tablename="auth_token"):
    id = UUID(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(references=AppUser, null=False)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)


class LoginThrottle(Table, tablename="login_throttle"):
    """Failed logins per login name, in the database so the limit holds across processes."""

    login_key = Varchar(length=64, unique=True)
    failures = Integer(default=0)
    first_failure_at = Timestamptz(default=TimestamptzNow())
    locked_until = Timestamptz(null=True, default=None)


class Customer(Table, tablename="customer"):
    id = UUID(primary_key=True)
    name = Varchar(length=128)
    phone = Varchar(length=32)
    tier = Varchar(length=16)  # diamond | gold | silver | standard


class Site(Table, tablename="site"):
    id = UUID(primary_key=True)
    customer = ForeignKey(references=Customer, null=False)
    address = Varchar(length=255)
    latitude = DoublePrecision()
    longitude = DoublePrecision()
    locality = Varchar(length=8)  # urban | rural
    time_zone = Varchar(length=64)


class WorkOrder(Table, tablename="work_order"):
    id = UUID(primary_key=True)
    kind = Varchar(length=16)  # install | repair
    customer = ForeignKey(references=Customer, null=False)
    site = ForeignKey(references=Site, null=False)
    accepted_at = Timestamptz()
    description = Text()
    reported_fault = Text(null=True, default=None)
    status = Varchar(length=16, default="open", index=True)  # open | closed
    contact_due_at = Timestamptz()  # B-CONTACT
    first_response_due_at = Timestamptz(null=True, default=None)  # B-FIRST, repairs only
    resolve_due_at = Timestamptz(null=True, default=None)  # B-REPAIR, repairs only
    first_contact_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    outcome = Varchar(length=16, null=True, default=None)  # resolved | unresolved
    outcome_reason = Text(null=True, default=None)
    forced_close_reason = Text(null=True, default=None)
    created_by = ForeignKey(references=AppUser, null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class ContactLog(Table, tablename="contact_log"):
    """B-CONTACT / B-FIRST: the customer was reached about a work order."""

    id = UUID(primary_key=True)
    work_order = ForeignKey(references=WorkOrder, null=False, index=True)
    contacted_at = Timestamptz()
    channel = Varchar(length=16)
    note = Text(default="")
    recorded_by = ForeignKey(references=AppUser, null=True)


class OfficeRequest(Table, tablename="office_request"):
    """A dispatcher's request sent twice with one Idempotency-Key (a double click, a retry after a timeout) makes one
    record: what the first made."""

    request_key = Varchar(length=64, unique=True)  # SHA-256 of who sent it, what it asked for and the key
    body_digest = Varchar(length=64)
    subject = UUID(null=True, default=None)  # what the first made (a work order); None while it is being made
    created_at = Timestamptz()


class Visit(Table, tablename="visit"):
    id = UUID(primary_key=True)
    work_order = ForeignKey(references=WorkOrder, null=False, index=True)
    technician = ForeignKey(references=Technician, null=True, index=True)
    agreed_time = Timestamptz(index=True)  # the current punctuality reference (B-APPT)
    original_agreed_time = Timestamptz()
    sla_shift_seconds = BigInt(default=0)  # customer-initiated reschedules move SLA references (B-RESCHED)
    expected_duration_min = Integer()
    confirmed_channel = Varchar(length=16)
    confirmed_at = Timestamptz()
    booked_at = Timestamptz(default=TimestamptzNow())
    booked_by = ForeignKey(references=AppUser, null=True)
    late_reason = Varchar(length=32, null=True, default=None)  # B-INSTALL-24
    customer_notified_at = Timestamptz(null=True, default=None)
    # scheduled | assigned | en_route | on_site | completed | returned (to its technician, A-DECIDE) | cancelled
    status = Varchar(length=16, default="scheduled", index=True)
    verdict = Varchar(length=16, default="pending", index=True)  # A-VERDICT
    review_state = Varchar(length=16, default="none", index=True)  # none | open | confirmed | dismissed | returned
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    completed_at = Timestamptz(null=True, default=None)


class Assignment(Table, tablename="assignment"):
    """B-ASSIGN: who took a visit, when it was handed over, who did it."""

    id = UUID(primary_key=True)
    visit = ForeignKey(references=Visit, null=False, index=True)
    technician = ForeignKey(references=Technician, null=False)
    previous_technician = ForeignKey(references=Technician, null=True)
    handed_over_at = Timestamptz()
    assigned_by = ForeignKey(references=AppUser, null=True)
    override_reason = Text(null=True, default=None)


class Reschedule(Table, tablename="reschedule"):
    """B-RESCHED: every move of an agreed time, with its computed compliance."""

    id = UUID(primary_key=True)
    visit = ForeignKey(references=Visit, null=False, index=True)
    old_time = Timestamptz()
    new_time = Timestamptz()
    initiator = Varchar(length=16)  # customer | company
    reason_code = Varchar(length=32)
    note = Text(default="")
    customer_confirmed = Boolean()
    recorded_by = ForeignKey(references=AppUser, null=True)
    recorded_at = Timestamptz()
    compliant = Boolean()
    override_reason = Text(null=True, default=None)  # B-ASSIGN: why the technician's overlap was let stand


class Cancellation(Table, tablename="cancellation"):
    """B-CANCEL."""

    id = UUID(primary_key=True)
    visit = ForeignKey(references=Visit, null=False, unique=True)
    reason_code = Varchar(length=32)
    requested_by = Varchar(length=16)  # customer | company
    note = Text(default="")
    recorded_by = ForeignKey(references=AppUser, null=True)
    recorded_at = Timestamptz()


class VisitEvent(Table, tablename="visit_event"):
    """A fact sent by a technician's phone; `event_id` is the phone's UUID, claimed once forever."""

    id = UUID(primary_key=True)
    event_id = UUID(unique=True)
    visit = ForeignKey(references=Visit, null=False, index=True)
    technician = ForeignKey(references=Technician, null=False, index=True)  # E-MOCK: a technician's nearby fixes
    kind = Varchar(length=24)
    body_digest = Varchar(length=64)  # same event id with another body is a conflict, never an overwrite
    payload = JSON()
    result = JSON()  # what the first request was answered, returned again to replays
    device_time = Timestamptz(null=True, default=None)
    device_elapsed_ms = BigInt(null=True, default=None)
    # X-Device-Id: which of the technician's phones sent it (a spare phone's clocks are its own), if the app said.
    device = Varchar(length=64, null=True, default=None)
    device_boot = Integer(null=True, default=None)  # the phone's boot count when it happened (deviceBoot)
    clock_offset_ms = BigInt(null=True, default=None)  # E-CLOCK offset applied (0 within the transit allowance)
    corrected_time = Timestamptz()
    time_source = Varchar(length=24)
    server_received_at = Timestamptz()
    latitude = DoublePrecision(null=True, default=None)
    longitude = DoublePrecision(null=True, default=None)
    accuracy_m = DoublePrecision(null=True, default=None)
    fix_time = Timestamptz(null=True, default=None)
    mock = Boolean(null=True, default=None)
    distance_m = DoublePrecision(null=True, default=None)
    # Its place in the sync batch that sent it: the facts of one batch share their receipt, and a phone sends in order.
    batch_position = Integer(null=True, default=None)


# Photos that were evidence once: a photo withdrawn from its visit (A-DECIDE) was still used there, so a copy of it on
# another visit stays a copy (E-REUSE, V-SIGN).
SEEN_PHOTO_STATUSES = ("accepted", "withdrawn")


class Photo(Table, tablename="photo"):
    """E-IMAGE: an accepted photo or signature image, its derivatives and what its EXIF says."""

    id = UUID(primary_key=True)
    event = ForeignKey(references=VisitEvent, null=False, unique=True)
    visit = ForeignKey(references=Visit, null=False, index=True)
    technician = ForeignKey(references=Technician, null=False)
    purpose = Varchar(length=24)
    status = Varchar(length=16, default="accepted")  # accepted | awaiting_upload (presigned S3 upload) | withdrawn
    sha256 = Varchar(length=64, index=True)
    perceptual_hash = Varchar(length=16)
    fine_hash = Varchar(length=64, null=True, default=None)  # E-REUSE: 256-bit dHash confirming a coarse match
    content_type = Varchar(length=32)
    byte_size = BigInt()
    width = Integer()
    height = Integer()
    original_key = Varchar(length=255)
    thumbnail_key = Varchar(length=255)
    display_key = Varchar(length=255)
    captured_at_utc = Timestamptz(null=True, default=None)
    captured_offset_known = Boolean(default=False)
    gps_latitude = DoublePrecision(null=True, default=None)
    gps_longitude = DoublePrecision(null=True, default=None)
    gps_distance_m = DoublePrecision(null=True, default=None)
    gps_fixed_at = Timestamptz(null=True, default=None)  # E-PLACE: the GPS fix's own time (a stale fix is no place)
    camera_make = Varchar(length=128, null=True, default=None)
    camera_model = Varchar(length=128, null=True, default=None)
    software = Varchar(length=128, null=True, default=None)
    ink_coverage = Real(null=True, default=None)  # signatures only
    ink_print = Varchar(length=384, null=True, default=None)  # signatures only: V-SIGN's copy check (fieldsvc.ink_print)
    created_at = Timestamptz(default=TimestamptzNow())


class PhotoHashBand(Table, tablename="photo_hash_band"):
    """E-REUSE index: each 16-bit band of a perceptual hash, keyed as band << 16 | bits."""

    photo = ForeignKey(references=Photo, null=False, index=True)
    band_key = Integer(index=True)


class PhotoMatch(Table, tablename="photo_match"):
    """E-REUSE fact: a photo is identical or perceptually close to a photo of another visit."""

    pair_key = Varchar(length=73, unique=True)  # "<photo>:<other photo>", one row per direction
    photo = ForeignKey(references=Photo, null=False, index=True)
    visit = ForeignKey(references=Visit, null=False, index=True)
    other_photo = ForeignKey(references=Photo, null=False)
    other_visit = ForeignKey(references=Visit, null=False)
    distance = Integer()
    fine_distance = Integer(null=True, default=None)  # of the fine hashes, when both photos have one
    identical = Boolean()
    # Whether the other photo reached the service first (the later one is the reuse); None in rows made before it.
    other_first = Boolean(null=True, default=None)


class FollowUp(Table, tablename="follow_up"):
    """V-ASK: a customer question the technician could not answer, due for follow-up."""

    id = UUID(primary_key=True)
    visit = ForeignKey(references=Visit, null=False, index=True)
    event = ForeignKey(references=VisitEvent, null=False, unique=True)
    customer_name = Varchar(length=128)
    customer_phone = Varchar(length=32)
    address = Varchar(length=255)
    question = Text()
    asked_at = Timestamptz()
    due_at = Timestamptz(index=True)
    resolved_at = Timestamptz(null=True, default=None)
    resolution = Text(null=True, default=None)


class AuditResult(Table, tablename="audit_result"):
    """A-VERDICT: the latest verdict of a visit, its findings and the policy version it used."""

    visit = ForeignKey(references=Visit, null=False, unique=True)
    status = Varchar(length=16)
    policy_id = Varchar(length=64)
    policy_version = Integer()
    findings = JSON()
    trusted_arrival = JSON(null=True, default=None)  # None until a check-in arrives
    facts_digest = Varchar(length=64)
    audited_at = Timestamptz()


class AuditDue(Table, tablename="audit_due"):
    """A-REAUDIT outbox: a visit with facts its verdict does not reflect yet, written in the fact's transaction."""

    visit = ForeignKey(references=Visit, null=False, unique=True)
    token = UUID()  # new on every mark: a re-audit clears the row only if no fact marked it again meanwhile
    marked_at = Timestamptz()  # when the oldest mark not yet audited was made
    located = Boolean(default=False)  # a located fact came in: the technician's neighbouring visits (E-MOCK) too
    # Marked by a technician's fact (new evidence), not only by a deadline or the office: A-DECIDE puts a returned
    # visit back in the queue then. True by default so rows marked before the column existed keep doing so.
    reopens = Boolean(default=True)
    lease_until = Timestamptz(null=True, default=None)  # a worker is auditing it; after this, another may


class AuditFinding(Table, tablename="audit_finding"):
    """One row per finding of the latest verdict, for filtering the auditor queue by rule and severity."""

    visit = ForeignKey(references=Visit, null=False, index=True)
    rule_id = Varchar(length=16, index=True)
    code = Varchar(length=48)
    severity = Varchar(length=16, index=True)


class ReviewDecision(Table, tablename="review_decision"):
    """A-DECIDE: an auditor's confirm, dismiss (with reason) or return for correction."""

    id = UUID(primary_key=True)
    visit = ForeignKey(references=Visit, null=False, index=True)
    auditor = ForeignKey(references=AppUser, null=False)
    decision = Varchar(length=16)
    reason = Text(default="")
    requested = JSON()  # what a returned visit must add or correct
    decided_at = Timestamptz()
    # The violations the visit's verdict had when decided, each "code|refs" (fieldsvc.audit.findings.violation_key;
    # plain codes in decisions made before, null in older ones); a later re-audit finding one they do not cover puts
    # the visit back in the queue.
    decided_codes = JSON(null=True, default=None)


class TrailEntry(Table, tablename="trail_entry"):
    """A-TRAIL: append-only, hash-chained log of facts, status changes and decisions."""

    seq = BigSerial(primary_key=True)
    prev_hash = Varchar(length=64)
    entry_hash = Varchar(length=64, unique=True)
    kind = Varchar(length=32)
    subject_id = Varchar(length=64, index=True)
    actor_id = Varchar(length=64)
    payload = Text()
    recorded_at = Timestamptz()


class TrailHead(Table, tablename="trail_head"):
    """A-TRAIL: the hash of the chain's last entry, moved by every append, so a chain cut short is caught; sealed
    with the service's secret key, so a chain rewritten by someone who can only write the database is caught too."""

    entry_hash = Varchar(length=64)
    seal = Varchar(length=64, default="")  # HMAC of entry_hash; empty until the first append after the migration


class TrailPending(Table, tablename="trail_pending"):
    """A-TRAIL entries written by requests, committed with their change, waiting to be chained in this order."""

    id = BigSerial(primary_key=True)
    kind = Varchar(length=32)
    subject_id = Varchar(length=64)
    actor_id = Varchar(length=64)
    payload = Text()  # the entry's canonical text, as it will be hashed
    recorded_at = Timestamptz()
    seal = Varchar(length=64, default="")  # HMAC of payload: entries written behind the service's back are not taken


ALL_TABLES: tuple[type[Table], ...] = (
    Technician,
    AppUser,
    AuthToken,
    LoginThrottle,
    Customer,
    Site,
    WorkOrder,
    ContactLog,
    OfficeRequest,
    Visit,
    Assignment,
    Reschedule,
    Cancellation,
    VisitEvent,
    Photo,
    PhotoHashBand,
    PhotoMatch,
    FollowUp,
    AuditResult,
    AuditDue,
    AuditFinding,
    ReviewDecision,
    TrailEntry,
    TrailHead,
    TrailPending,
)
