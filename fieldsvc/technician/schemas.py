"""Wire contract of what a technician's phone reads about its own visits."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec

from fieldsvc.wire import Instant, ReviewState, Wire


class CustomerContact(Wire):
    name: str
    phone: str
    tier: str


class VisitSite(Wire):
    address: str
    latitude: float
    longitude: float
    locality: str
    time_zone: str


class PolicyRef(Wire):
    id: str
    version: int


class MyVisit(Wire):
    id: UUID
    work_order_id: UUID
    kind: str
    status: str
    agreed_time: Instant
    expected_duration_min: int
    description: str
    reported_fault: str | None
    customer: CustomerContact
    site: VisitSite
    policy: PolicyRef
    required_items: list[str]  # rule ids the visit's policy needs before it can be completed (V-CLOSE)
    customer_absent_wait_min: Annotated[
        float | None,
        msgspec.Meta(description="V-CLOSE: minutes to wait at the site, from the later of the arrival and the agreed "
                     "time to the check-out, before completing with customerAbsent (then only V-CHECKIN and V-CHECKOUT "
                     "of requiredItems are needed); null when the visit's policy has no such completion"),
    ]
    verdict: str
    review_state: ReviewState
    returned_for: list[str]  # A-DECIDE: what an auditor asked to add or correct, while the visit is returned
    return_reason: str | None
