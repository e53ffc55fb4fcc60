"""Offline phones resend: a fact is claimed once by its event id, and the same fact again replays its first answer."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from fieldsvc.answers import Recorded
from fieldsvc.errors import api_error
from fieldsvc.mobile.schemas import FactResult
from fieldsvc.trail.chain import canonical_json

EventConflict = api_error(
    409, "event.conflict", "This eventId was already used for another fact; a new fact needs a new eventId."
)

R = TypeVar("R", bound=FactResult)


def body_digest(kind: str, visit_id: UUID, body: dict[str, Any]) -> str:
    """SHA-256 of the canonical fact: the same body for the same visit always digests the same, however it was sent."""
    return hashlib.sha256(canonical_json({"kind": kind, "visitId": visit_id, "body": body}).encode()).hexdigest()


def replayed(
    stored: dict[str, Any], digest: str, technician_id: UUID, visit_id: UUID, result_type: type[R]
) -> Recorded[R]:
    """The original answer to a stored fact, if this request is that fact again; a conflict otherwise.

    Another technician's event id is a conflict too, with nothing of the stored fact in the answer.
    """
    if stored["technician"] != technician_id or stored["visit"] != visit_id or stored["body_digest"] != digest:
        raise EventConflict()
    return Recorded(msgspec.convert(stored["result"], result_type), replay=True)
