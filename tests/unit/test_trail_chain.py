"""A-TRAIL's chain arithmetic: each link hashes its content onto the one before, and the first bad link is named."""

from __future__ import annotations

from datetime import UTC, datetime

from fieldsvc.trail.chain import FORGED_KIND, GENESIS_HASH, entry_hash, entry_text, first_broken_link

AT = datetime(2030, 3, 4, 1, 0, tzinfo=UTC)


def chain(*payloads: str) -> list[dict]:
    entries, prev_hash = [], GENESIS_HASH
    for seq, payload in enumerate(payloads, start=1):
        digest = entry_hash(prev_hash, payload)
        entries.append({"seq": seq, "prev_hash": prev_hash, "entry_hash": digest, "payload": payload,
                        "kind": "fact.arrival", "subject_id": "visit-1", "actor_id": "user-1", "recorded_at": AT})
        prev_hash = digest
    return entries


def written(kind: str = "fact.arrival") -> str:
    return entry_text(kind, "visit-1", "user-1", AT, {"eventId": "e-1"})


def test_a_trail_of_entries_as_the_service_writes_them_is_intact() -> None:
    broken, last_hash = first_broken_link(chain(written(), written()))
    assert broken is None and last_hash != GENESIS_HASH


def test_a_trail_entry_whose_hashed_content_is_not_an_entry_is_named_not_a_crash() -> None:
    for forged in ("{}", "[]", "not json", '{"kind": "fact.arrival"}'):
        broken, _ = first_broken_link(chain(written(), forged))
        assert (broken.seq, broken.reason) == (2, "the hashed content is not a trail entry")


def test_a_trail_entry_recording_a_queued_entry_the_service_did_not_seal_is_named_with_what_was_queued() -> None:
    about = {"pendingId": 7, "kind": "visit.status", "subject": "visit-9", "payload": "...", "why": "no seal"}
    entries = chain(written(), entry_text(FORGED_KIND, "visit-1", "user-1", AT, about))
    entries[1]["kind"] = FORGED_KIND

    broken, _ = first_broken_link(entries)

    recorded = '{"kind":"visit.status","pendingId":7,"subject":"visit-9","why":"no seal"}'
    assert broken.seq == 2 and recorded in broken.reason
