"""Turning stored rows into the dispatcher API's response structs."""

from __future__ import annotations

from fieldsvc.dispatch.schemas import (
    AssignmentView,
    CancellationView,
    ConfirmationView,
    CustomerView,
    DeadlinesView,
    RescheduleView,
    SiteView,
    TechnicianRef,
    VisitSummary,
    VisitView,
    WorkOrderView,
)


def work_order_view(order: dict, visits: list[dict]) -> WorkOrderView:
    return WorkOrderView(
        id=order["id"],
        kind=order["kind"],
        status=order["status"],
        customer=CustomerView(
            id=order["customer"], name=order["customer_name"], phone=order["customer_phone"], tier=order["customer_tier"]
        ),
        site=SiteView(
            id=order["site"],
            address=order["site_address"],
            latitude=order["site_latitude"],
            longitude=order["site_longitude"],
            locality=order["site_locality"],
            time_zone=order["site_time_zone"],
        ),
        accepted_at=order["accepted_at"],
        description=order["description"],
        reported_fault=order["reported_fault"],
        deadlines=DeadlinesView(
            contact_due_at=order["contact_due_at"],
            first_response_due_at=order["first_response_due_at"],
            resolve_due_at=order["resolve_due_at"],
        ),
        first_contact_at=order["first_contact_at"],
        closed_at=order["closed_at"],
        outcome=order["outcome"],
        forced_close_reason=order["forced_close_reason"],
        visits=[
            VisitSummary(
                id=v["id"],
                status=v["status"],
                agreed_time=v["agreed_time"],
                expected_duration_min=v["expected_duration_min"],
                technician_id=v["technician"],
                verdict=v["verdict"],
                review_state=v["review_state"],
            )
            for v in visits
        ],
    )


def technician_ref(technician: dict) -> TechnicianRef:
    return TechnicianRef(
        id=technician["id"], staff_number=technician["staff_number"], name=technician["name"], team=technician["team"]
    )


def visit_view(
    visit: dict,
    technician: dict | None,
    returned: dict | None,
    assignments: list[dict],
    reschedules: list[dict],
    cancellation: dict | None,
) -> VisitView:
    """returned: the visit's latest return decision while it is returned (A-DECIDE), else None."""
    return VisitView(
        id=visit["id"],
        work_order_id=visit["work_order"],
        kind=visit["kind"],
        status=visit["status"],
        agreed_time=visit["agreed_time"],
        original_agreed_time=visit["original_agreed_time"],
        expected_duration_min=visit["expected_duration_min"],
        confirmation=ConfirmationView(channel=visit["confirmed_channel"], confirmed_at=visit["confirmed_at"]),
        booked_at=visit["booked_at"],
        late_reason=visit["late_reason"],
        customer_notified_at=visit["customer_notified_at"],
        technician=technician_ref(technician) if technician else None,
        verdict=visit["verdict"],
        review_state=visit["review_state"],
        returned_for=list(returned["requested"]) if returned else [],
        return_reason=returned["reason"] if returned else None,
        assignments=[
            AssignmentView(
                technician_id=a["technician"],
                previous_technician_id=a["previous_technician"],
                handed_over_at=a["handed_over_at"],
                assigned_by=a["assigned_by"],
                override_reason=a["override_reason"],
            )
            for a in assignments
        ],
        reschedules=[
            RescheduleView(
                old_time=r["old_time"],
                new_time=r["new_time"],
                initiator=r["initiator"],
                reason_code=r["reason_code"],
                note=r["note"],
                customer_confirmed=r["customer_confirmed"],
                recorded_by=r["recorded_by"],
                recorded_at=r["recorded_at"],
                compliant=r["compliant"],
                override_reason=r["override_reason"],
            )
            for r in reschedules
        ],
        cancellation=CancellationView(
            reason_code=cancellation["reason_code"],
            requested_by=cancellation["requested_by"],
            note=cancellation["note"],
            recorded_by=cancellation["recorded_by"],
            recorded_at=cancellation["recorded_at"],
        )
        if cancellation
        else None,
    )
