"""Wire contract of the dispatcher API: orders, bookings, assignment, reschedules, boards."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import msgspec

from fieldsvc.wire import (
    Incoming, Instant, Latitude, LongText, Longitude, Name, Phone, Reason, ReviewState, Wire, shown_text,
)

Kind = Literal["install", "repair"]
Tier = Literal["diamond", "gold", "silver", "standard"]
Locality = Literal["urban", "rural"]
Channel = Literal["phone", "sms", "app", "in_person", "other"]
Initiator = Literal["customer", "company"]
RescheduleReason = Literal[
    "customer_requested", "customer_absent", "technician_unavailable", "parts_unavailable",
    "resource_unavailable", "access_problem", "weather", "other",
]
CancelReason = Literal["customer_requested", "duplicate", "no_fault_found", "not_serviceable", "other"]
LateReason = Literal["customer_requested", "resource_unavailable"]
DurationMin = Annotated[int, msgspec.Meta(ge=5, le=12 * 60)]
# No minimum length: empty, like spaces, is an unknown zone (one code for both, site.unknown_time_zone).
TimeZoneName = Annotated[str, msgspec.Meta(max_length=64, examples=["Asia/Shanghai"])]
Address = shown_text(255)
Description = shown_text(4000)  # B-ORDER: the order records what is to be done


class NewCustomer(Incoming):
    name: Name
    phone: Phone
    tier: Tier


class NewSite(Incoming):
    address: Address
    latitude: Latitude
    longitude: Longitude
    locality: Locality
    time_zone: TimeZoneName | None = None  # defaults to the configured zone


class CreateWorkOrder(Incoming):
    kind: Kind
    description: Description
    customer: NewCustomer | None = None
    customer_id: UUID | None = None
    site: NewSite | None = None
    site_id: UUID | None = None
    accepted_at: Instant | None = None  # defaults to now
    reported_fault: LongText | None = None  # required for a repair


class LogContact(Incoming):
    channel: Channel
    contacted_at: Instant | None = None
    note: LongText = ""


class Confirmation(Incoming):
    """B-APPT: the agreed time was confirmed back to the customer."""

    channel: Channel
    confirmed_at: Instant | None = None  # defaults to now


class ConfirmationView(Wire):
    channel: str
    confirmed_at: Instant


class BookVisit(Incoming):
    agreed_time: Instant
    expected_duration_min: DurationMin
    confirmation: Confirmation
    late_reason: LateReason | None = None  # B-INSTALL-24
    customer_notified_at: Instant | None = None  # required with resource_unavailable


class AssignVisit(Incoming):
    technician_id: UUID
    override_reason: Reason | None = None


class RescheduleVisit(Incoming):
    new_time: Instant
    initiator: Initiator
    reason_code: RescheduleReason
    customer_confirmed: bool
    note: LongText = ""
    override_reason: Reason | None = None  # lets an assigned technician's overlap stand


VisitState = Literal["scheduled", "assigned", "en_route", "on_site", "completed", "returned", "cancelled"]
OrderState = Literal["open", "closed"]


class CancelVisit(Incoming):
    reason_code: CancelReason
    requested_by: Initiator
    note: LongText = ""


class ForceClose(Incoming):
    """V-CLOSE: a dispatcher closes a work order whose visit is not complete; always flagged for audit."""

    outcome: Literal["resolved", "unresolved"]
    reason: Reason


class CustomerView(Wire):
    id: UUID
    name: str
    phone: str
    tier: str


class SiteView(Wire):
    id: UUID
    address: str
    latitude: float
    longitude: float
    locality: str
    time_zone: str


class DeadlinesView(Wire):
    contact_due_at: Instant
    first_response_due_at: Instant | None
    resolve_due_at: Instant | None


class TechnicianRef(Wire):
    id: UUID
    staff_number: str
    name: str
    team: str


class AssignmentView(Wire):
    technician_id: UUID
    previous_technician_id: UUID | None
    handed_over_at: Instant
    assigned_by: UUID | None
    override_reason: str | None


class RescheduleView(Wire):
    old_time: Instant
    new_time: Instant
    initiator: str
    reason_code: str
    note: str
    customer_confirmed: bool
    recorded_by: UUID | None
    recorded_at: Instant
    compliant: bool
    override_reason: str | None  # B-ASSIGN: why the technician's overlap was let stand


class CancellationView(Wire):
    reason_code: str
    requested_by: str
    note: str
    recorded_by: UUID | None
    recorded_at: Instant


class VisitView(Wire):
    id: UUID
    work_order_id: UUID
    kind: str
    status: str
    agreed_time: Instant
    original_agreed_time: Instant
    expected_duration_min: int
    confirmation: ConfirmationView
    booked_at: Instant
    late_reason: str | None
    customer_notified_at: Instant | None
    technician: TechnicianRef | None
    verdict: str
    # A-DECIDE: none (nothing to review), open (awaiting an auditor), confirmed, dismissed, or returned; a dismissed
    # visit keeps its flagged verdict, and only this tells the dispatcher an auditor cleared it (a probe)
    review_state: ReviewState
    returned_for: list[str]  # A-DECIDE: what an auditor asked the technician to add or correct, while returned
    return_reason: str | None
    assignments: list[AssignmentView]
    reschedules: list[RescheduleView]
    cancellation: CancellationView | None


class VisitSummary(Wire):
    id: UUID
    status: str
    agreed_time: Instant
    expected_duration_min: int
    technician_id: UUID | None
    verdict: str
    review_state: ReviewState


class WorkOrderView(Wire):
    id: UUID
    kind: str
    status: str
    customer: CustomerView
    site: SiteView
    accepted_at: Instant
    description: str
    reported_fault: str | None
    deadlines: DeadlinesView
    first_contact_at: Instant | None
    closed_at: Instant | None
    outcome: str | None
    forced_close_reason: str | None
    visits: list[VisitSummary]


class BoardEntry(Wire):
    visit_id: UUID
    work_order_id: UUID
    kind: str
    status: str
    verdict: str  # A-VERDICT: pending | passed | flagged | ...
    agreed_time: Instant
    site_time_zone: str
    # The agreed time on the site's calendar and clock: on a board told in another zone, "10:30" listed after "14:50"
    # without its date read as a mistake (a probe).
    site_local_date: str  # "YYYY-MM-DD"
    site_local_time: str  # "HH:MM"
    expected_duration_min: int
    customer_name: str
    customer_phone: str
    customer_tier: str
    address: str
    latitude: float
    longitude: float


class DispatchBoardEntry(BoardEntry):
    """A visit on the dispatchers' board of a day, whoever holds it."""

    technician: TechnicianRef | None  # null: not assigned yet
    review_state: ReviewState


class DayBoard(Wire):
    technician: TechnicianRef
    date: str
    time_zone: str
    visits: list[BoardEntry]


class AtRiskEntry(Wire):
    work_order_id: UUID
    kind: str
    tier: str
    rule_id: str  # B-CONTACT | B-FIRST | B-REPAIR
    due_at: Instant
    site_local_due_time: str  # dueAt on the site's clock, "YYYY-MM-DD HH:MM", as the customer was promised it
    state: Literal["breached", "due_soon"]
    minutes_left: int
    customer_name: str
    customer_phone: str
    address: str
    site_time_zone: str
    # The order's visit still to come, if one is booked: when, whose, and whether it starts only after this clock
    # runs out (a repair booked past its B-REPAIR deadline).
    visit_id: UUID | None = None
    visit_agreed_time: Instant | None = None
    technician_name: str | None = None
    visit_after_due: bool = False
