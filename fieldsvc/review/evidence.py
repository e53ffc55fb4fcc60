"""A-QUEUE's evidence view: a visit's timeline, photos with expiring links, signature, card, findings, decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Callable
from uuid import UUID

from fieldsvc.audit.findings import decision_covers
from fieldsvc.context import AppContext
from fieldsvc.dispatch.service import DispatchService
from fieldsvc.evidence.service import EvidenceService
from fieldsvc.review import repository
from fieldsvc.review.schemas import (
    DecisionView,
    FindingView,
    PhotoEvidence,
    TimelineEntry,
    TrustedArrivalView,
    VerdictView,
    VisitEvidence,
)
from fieldsvc.review.service import decision_digest, decision_view
from fieldsvc.verdicts.loader import load_visits

TIMELINE_COLUMNS = (
    "event_id", "kind", "device", "device_boot", "device_time", "device_elapsed_ms", "clock_offset_ms",
    "corrected_time", "time_source", "server_received_at", "latitude", "longitude", "accuracy_m", "mock",
    "distance_m", "payload", "result",
)


async def visit_evidence(ctx: AppContext, visit_id: UUID, link_for_token: Callable[[str], str]) -> VisitEvidence:
    dispatch = DispatchService(ctx)
    visit = await dispatch.visit(visit_id)  # 404 visit.not_found when there is none
    events = await repository.visit_events(visit_id)
    [loaded] = await load_visits([visit_id], ctx.now())
    reread = loaded.reread
    links = EvidenceService(ctx)
    photos = [await _photo(links, row, link_for_token) for row in await repository.visit_photos(visit_id)]
    signatures = [p for p in photos if p.purpose == "signature"]
    judged = loaded.facts.signature.photo_id if loaded.facts.signature is not None else None
    signature = next((p for p in signatures if str(p.photo_id) == judged), None)
    cards = [e["result"].get("card") for e in events if e["kind"] == "service_card"]
    decisions = [decision_view(row) for row in await repository.decisions_of(visit_id)]
    review_state = await repository.review_state(visit_id)
    return VisitEvidence(
        visit=visit,
        work_order=await dispatch.work_order(visit.work_order_id),
        verdict=_verdict(await repository.latest_result(visit_id), decisions, review_state),
        review_state=review_state,
        timeline=[
            TimelineEntry(
                **{column: event[column] for column in TIMELINE_COLUMNS},
                audit_time=reread.get(str(event["event_id"]), event["corrected_time"]),
            )
            for event in events
        ],
        photos=[p for p in photos if p.purpose != "signature"],
        signature=signature,
        other_signatures=[p for p in signatures if p is not signature],
        service_card=cards[0] if cards else None,
        decisions=decisions,
    )


def _trusted_arrival(stored: dict | None) -> TrustedArrivalView | None:
    if stored is None:
        return None
    return TrustedArrivalView(
        at=datetime.fromisoformat(stored["at"]), source=stored["source"], ref=stored["ref"],
        reason_en=stored["reason_en"], reason_zh=stored["reason_zh"],
    )


def _verdict(result: dict | None, decisions: list[DecisionView], review_state: str) -> VerdictView:
    if result is None:
        return VerdictView(
            status="pending", policy_id=None, policy_version=None, trusted_arrival=None, findings=[], audited_at=None,
            digest=None,
        )
    return VerdictView(
        status=result["status"],
        policy_id=result["policy_id"],
        policy_version=result["policy_version"],
        trusted_arrival=_trusted_arrival(result["trusted_arrival"]),
        findings=[
            FindingView(
                rule_id=f["rule_id"], code=f["code"], severity=f["severity"], message_en=f["message_en"],
                message_zh=f["message_zh"], measured=f["measured"], threshold=f["threshold"], unit=f["unit"],
                refs=f["refs"], decided_in=_decided_in(f, decisions),
            )
            for f in result["findings"]
        ],
        audited_at=result["audited_at"],
        digest=decision_digest(result["facts_digest"], (decision.id for decision in decisions), review_state),
    )


def _decided_in(finding: dict, decisions: list[DecisionView]) -> UUID | None:
    """The latest decision (they come in the order they were made) that covered this violation, if one did: such a
    one back in a verdict is not new (`decided_violations`)."""
    if finding["severity"] != "violation":
        return None
    return next((d.id for d in reversed(decisions) if decision_covers(set(d.covers), finding)), None)


async def _photo(links: EvidenceService, row: dict, link_for_token: Callable[[str], str]) -> PhotoEvidence:
    return PhotoEvidence(
        photo_id=row["id"],
        event_id=row["event_id"],
        purpose=row["purpose"],
        sha256=row["sha256"],
        width=row["width"],
        height=row["height"],
        captured_at=row["captured_at_utc"],
        gps_latitude=row["gps_latitude"],
        gps_longitude=row["gps_longitude"],
        gps_distance_m=row["gps_distance_m"],
        gps_fixed_at=row["gps_fixed_at"],
        camera_make=row["camera_make"],
        camera_model=row["camera_model"],
        software=row["software"],
        ink_coverage=row["ink_coverage"],
        thumbnail=await links.link(row, "thumbnail", link_for_token),
        display=await links.link(row, "display", link_for_token),
        original=await links.link(row, "original", link_for_token),
        withdrawn=row["status"] == "withdrawn",
    )
