"""Request and response bodies of the follow-up API (V-ASK)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import msgspec

from fieldsvc.wire import Incoming, Instant, Wire

FollowUpState = Literal["open", "overdue", "resolved", "all"]


class FollowUpView(Wire):
    id: UUID
    visit_id: UUID
    work_order_id: UUID
    technician_id: UUID | None
    question: str
    customer_name: str
    customer_phone: str
    address: str
    asked_at: Instant
    due_at: Instant
    overdue: bool  # still open after its due time (V-ASK 48 h)
    resolved_at: Instant | None
    resolution: str | None


class ResolveFollowUp(Incoming):
    """What the customer was told; the follow-up's time is the server's."""

    resolution: Annotated[str, msgspec.Meta(max_length=2000)]  # empty, like blank, is follow_up.resolution_required
