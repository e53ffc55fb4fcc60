"""Wire contract of the auditor API."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from fieldsvc.wire import Instant, Wire

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


class DecideVisit(Wire):
    decision: Decision
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""  # required for dismiss and return
    requested: list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]] = []  # what a return asks for


class DecisionView(Wire):
    id: UUID
    visit_id: UUID
    auditor_id: UUID
    decision: str
    reason: str
    requested: list[str]
    decided_at: Instant


class VerdictView(Wire):
    status: str
    policy_id: str | None
    policy_version: int | None
    trusted_arrival: dict[str, Any] | None
    findings: list[FindingView]
    audited_at: Instant | None
