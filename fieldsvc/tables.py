"""Every Piccolo table of fieldsvc; client-visible rows use UUID keys."""

from piccolo.columns import (
    UUID,
    BigInt,
    BigSerial,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
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
    status = Varchar(length=16, default="open", index=True)  # open | closed | cancelled
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
    status = Varchar(length=16, default="scheduled", index=True)
    verdict = Varchar(length=16, default="pending", index=True)  # A-VERDICT
    review_state = Varchar(length=16, default="none", index=True)  # none | open | confirmed | dismissed | returned
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


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


class Cancellation(Table, tablename="cancellation"):
    """B-CANCEL."""

    id = UUID(primary_key=True)
    visit = ForeignKey(references=Visit, null=False, unique=True)
    reason_code = Varchar(length=32)
    requested_by = Varchar(length=16)  # customer | company
    note = Text(default="")
    recorded_by = ForeignKey(references=AppUser, null=True)
    recorded_at = Timestamptz()


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


ALL_TABLES: tuple[type[Table], ...] = (
    Technician,
    AppUser,
    AuthToken,
    LoginThrottle,
    Customer,
    Site,
    WorkOrder,
    ContactLog,
    Visit,
    Assignment,
    Reschedule,
    Cancellation,
    TrailEntry,
)
