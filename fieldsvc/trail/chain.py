"""Pure hash-chain arithmetic: canonical entry text, entry hashes, and finding the first broken link."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable
from uuid import UUID

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, instants in ISO 8601, UUIDs as text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot put {type(value).__name__} in the trail")


def entry_text(
    kind: str, subject_id: str, actor_id: str, recorded_at: datetime, data: dict[str, Any], entry_id: str | None = None
) -> str:
    """`entry_id`: a queued entry's own id, so that no two the service queues are alike (one alike is a copy)."""
    text = {"kind": kind, "subject": subject_id, "actor": actor_id, "at": recorded_at, "data": data}
    return canonical_json({**text, "id": entry_id} if entry_id is not None else text)


def entry_hash(prev_hash: str, text: str) -> str:
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    reason: str
    whole_chain: bool = False  # the head disagrees with the chain: no telling which entries before it are intact


FORGED_KIND = "trail.forged"  # the chainer's record of a queued entry the service did not seal, or one queued again


def first_broken_link(entries: Iterable[dict[str, Any]], prev_hash: str = GENESIS_HASH) -> tuple[BrokenLink | None, str]:
    """Walk entries in order; return the first that does not chain (or None) and the last good hash."""
    for entry in entries:
        if entry["prev_hash"] != prev_hash:
            return BrokenLink(entry["seq"], "prev_hash does not match the previous entry"), prev_hash
        if entry_hash(prev_hash, entry["payload"]) != entry["entry_hash"]:
            return BrokenLink(entry["seq"], "entry_hash does not match its content"), prev_hash
        reason = content_mismatch(entry)
        if reason is not None:
            return BrokenLink(entry["seq"], reason), prev_hash
        if entry["kind"] == FORGED_KIND:
            return BrokenLink(entry["seq"], forgery_found(entry["payload"])), prev_hash
        prev_hash = entry["entry_hash"]
    return None, prev_hash


def content_mismatch(entry: dict[str, Any]) -> str | None:
    """Why an entry's kind, subject, actor and time columns are not those of its content; None when they are."""
    header = _header(entry["payload"])
    if header is None:  # hashed as it is, but not what the service writes (a forged queue entry, say)
        return "the hashed content is not a trail entry"
    if (header["kind"], header["subject"], header["actor"]) != (entry["kind"], entry["subject_id"], entry["actor_id"]):
        return "kind, subject or actor columns differ from the hashed content"
    if header["at"] != entry["recorded_at"]:
        return "the recorded_at column differs from the hashed time"
    return None


def forgery_found(payload: str) -> str:
    data = json.loads(payload)["data"]
    data = data if isinstance(data, dict) else {}
    about = {key: data.get(key) for key in ("pendingId", "kind", "subject", "why")}
    return f"a queued entry written behind the service's back is recorded here in its place: {canonical_json(about)}"


def _header(payload: str) -> dict[str, Any] | None:
    """The entry's kind, subject, actor and time as hashed; None when the content is not an entry's."""
    try:
        header = json.loads(payload)
        at = datetime.fromisoformat(header["at"])
        return {"kind": header["kind"], "subject": header["subject"], "actor": header["actor"], "at": at}
    except (ValueError, TypeError, KeyError):
        return None
