"""A dispatcher's request sent twice with the same Idempotency-Key (a double click, a retry after a timeout) records
once: the second gets what the first made."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import msgspec

from fieldsvc.auth.caller import Caller
from fieldsvc.dispatch import repository
from fieldsvc.errors import api_error
from fieldsvc.trail.chain import canonical_json

KeyReused = api_error(
    409, "request.key_reused",
    "This Idempotency-Key was already used for another request; a new request needs a new key.",
)


@dataclass(frozen=True)
class OfficeRequest:
    key: str  # who sent it, what it asked for and its Idempotency-Key
    body_digest: str


def office_request(
    caller: Caller, action: str, target: str, body: msgspec.Struct, idempotency_key: str | None
) -> OfficeRequest | None:
    """The request's identity for retries; None without an Idempotency-Key (every such request is a new one)."""
    if idempotency_key is None:
        return None
    return OfficeRequest(
        _sha256(canonical_json([str(caller.user_id), action, target, idempotency_key])),
        _sha256(canonical_json(msgspec.to_builtins(body))),
    )


async def first_result(request: OfficeRequest | None, now: datetime) -> UUID | None:
    """In the caller's write transaction: None when this request is new (claimed now, for settle() to name what it
    makes), else what the same request made before. A concurrent twin waits for the first to commit."""
    if request is None:
        return None
    earlier = await repository.claim_office_request(request.key, request.body_digest, now)
    if earlier is None:
        return None
    if earlier["body_digest"] != request.body_digest:
        raise KeyReused()
    return earlier["subject"]


async def settle(request: OfficeRequest | None, subject: UUID) -> None:
    if request is not None:
        await repository.name_office_request_subject(request.key, subject)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
