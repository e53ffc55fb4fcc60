"""A-TRAIL: the entries queued for the chain carry the service's seal. One written behind its back is no statement:
the records check does not read it while it waits, and the chainer puts a record of the forgery on the chain in its
place, which `trail verify` names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from fieldsvc import db
from fieldsvc.tables import TrailEntry, TrailHead, TrailPending, Visit, VisitEvent
from fieldsvc.trail.guard import check_trail
from fieldsvc.trail.chain import FORGED_KIND, entry_text
from fieldsvc.trail.records import first_record_mismatch
from fieldsvc.trail.service import TrailWriter, UnsealedHead, queue_seal, verify_trail
from tests.conftest import quiet
from tests.integration.mobile_builders import AGREED, Phone, phone, visit_id  # noqa: F401 - phone, visit_id: fixtures


async def arrived(phone: Phone, visit_id: str, app) -> None:  # noqa: ANN001
    phone.clock.now = AGREED
    assert (await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))).status_code == 201
    await quiet(app)


async def queue_completion_behind_the_services_back(
    visit_id: str, seal: Callable[[str], str] = lambda text: "", kind: str = "visit.status"
) -> None:
    """The visit marked completed, and an entry saying so queued as the service queues one, but for its seal (given
    the entry's text) and perhaps its kind column."""
    await Visit.update({Visit.status: "completed"}).where(Visit.id == visit_id)
    now = datetime.now(UTC)
    text = entry_text("visit.status", visit_id, "system", now, {"from": "on_site", "to": "completed",
                                                                "eventId": str(uuid4())})
    await TrailPending.insert(
        TrailPending(kind=kind, subject_id=visit_id, actor_id="system", payload=text, recorded_at=now, seal=seal(text))
    )


async def test_a_trail_a_status_edited_with_an_unsealed_entry_queued_to_match_is_named_while_it_waits(
    phone, visit_id, app
):
    await arrived(phone, visit_id, app)
    await queue_completion_behind_the_services_back(visit_id)

    _, mismatch = await first_record_mismatch(app.state.ctx)

    assert (mismatch.table, mismatch.row_id) == ("visit", visit_id)
    assert "status (completed)" in mismatch.reason


async def test_a_trail_an_unsealed_queued_entry_is_chained_as_a_record_of_its_forgery_which_verify_names(
    phone, visit_id, app
):
    await arrived(phone, visit_id, app)
    await queue_completion_behind_the_services_back(visit_id)

    await TrailWriter(app.state.ctx).chain_all_pending()
    _, broken = await verify_trail(app.state.ctx)

    last = await TrailEntry.select(TrailEntry.seq, TrailEntry.kind).order_by(TrailEntry.seq, ascending=False).first()
    assert last["kind"] == FORGED_KIND
    assert broken.seq == last["seq"] and "behind the service's back" in broken.reason and visit_id in broken.reason
    assert not await TrailEntry.exists().where((TrailEntry.subject_id == visit_id) & (TrailEntry.kind == "visit.status")
                                               & TrailEntry.payload.like("%completed%"))


@pytest.mark.parametrize("how", ["the seal of another entry", "sealed, then its kind column changed"])
async def test_a_trail_a_seal_binds_the_queued_entry_it_was_made_for(phone, visit_id, app, how):
    ctx = app.state.ctx
    await arrived(phone, visit_id, app)
    if how == "the seal of another entry":
        other = entry_text("visit.status", visit_id, "system", datetime.now(UTC), {"to": "on_site"})
        await queue_completion_behind_the_services_back(visit_id, seal=lambda text: queue_seal(ctx, other))
    else:
        await queue_completion_behind_the_services_back(
            visit_id, seal=lambda text: queue_seal(ctx, text), kind="fact.note"
        )

    await TrailWriter(ctx).chain_all_pending()

    last = await TrailEntry.select(TrailEntry.kind).order_by(TrailEntry.seq, ascending=False).first()
    assert last["kind"] == FORGED_KIND


async def test_a_trail_a_sealed_entry_copied_while_it_waited_and_queued_again_is_no_statement(phone, visit_id, app):
    """The visit's status moved back to en route, and the sealed entry that once said so queued again to match."""
    phone.clock.now = AGREED
    assert (await phone.post(visit_id, "on-my-way", phone.fact())).status_code == 201
    copied = await TrailPending.select().where(TrailPending.kind == "visit.status").first()
    await arrived(phone, visit_id, app)
    await Visit.update({Visit.status: "en_route"}).where(Visit.id == visit_id)
    await TrailPending.insert(TrailPending(**{k: v for k, v in copied.items() if k != "id"}))

    _, mismatch = await first_record_mismatch(app.state.ctx)
    await TrailWriter(app.state.ctx).chain_all_pending()
    _, broken = await verify_trail(app.state.ctx)

    assert (mismatch.table, mismatch.row_id) == ("visit", visit_id)
    assert broken is not None and '"why":"queued again"' in broken.reason


async def test_a_trail_rewritten_and_its_head_moved_along_is_not_sealed_by_the_next_append(phone, visit_id, app):
    """The next append used to seal whatever head it found: a rewritten chain then verified intact. It now chains
    nothing until the head vouches for the chain again (the fact stays queued)."""
    ctx = app.state.ctx
    await arrived(phone, visit_id, app)
    last = await TrailEntry.select(TrailEntry.seq).order_by(TrailEntry.seq, ascending=False).first()
    await TrailEntry.delete().where(TrailEntry.seq == last["seq"])
    new_last = await TrailEntry.select(TrailEntry.entry_hash).order_by(TrailEntry.seq, ascending=False).first()
    await TrailHead.update({TrailHead.entry_hash: new_last["entry_hash"]}, force=True)  # no key to seal it with

    note = phone.fact(topic="general", text="router in the hall")
    assert (await phone.post(visit_id, "notes", note)).status_code == 201
    with pytest.raises(UnsealedHead):
        await TrailWriter(ctx).chain_all_pending()
    _, broken = await verify_trail(ctx)

    assert broken is not None and "seal" in broken.reason
    assert await TrailPending.exists().where(TrailPending.kind == "fact.note")
    await TrailWriter(ctx).seal()  # the operator, the chain examined


async def test_a_trail_sealed_by_hand_after_an_upgrade_from_before_seals_verifies(phone, visit_id, app):
    """`fieldsvc trail seal`: a head and a queued entry as a version before seals left them are sealed as they stand
    (migrations no longer seal: a migration run again behind the service's back sealed a forgery; a probe)."""
    ctx = app.state.ctx
    await arrived(phone, visit_id, app)
    await TrailHead.update({TrailHead.seal: ""}, force=True)
    await queue_completion_behind_the_services_back(visit_id)

    assert await TrailWriter(ctx).seal() == (True, 1)
    await TrailWriter(ctx).chain_all_pending()

    assert await verify_trail(ctx) == (await TrailEntry.count(), None)
    assert await first_record_mismatch(ctx) == (1, None)


async def test_a_trail_two_statements_alike_queued_at_one_instant_are_both_statements(client, app):
    """A returned visit completed again stated its order's records as before, at the same instant of the tests'
    frozen clock: read as a copy queued again (a scan of the honest tests)."""
    ctx, order_id = app.state.ctx, str(uuid4())
    async with db.write_transaction(ctx.engine):
        for _ in range(2):
            await TrailWriter(ctx).append("work_order.records", order_id, None, {"parts": {}})

    await TrailWriter(ctx).chain_all_pending()

    assert await verify_trail(ctx) == (2, None)


async def test_a_trail_chained_under_a_wrong_key_chains_nothing_and_marks_nothing_forged(
    phone, visit_id, app, monkeypatch
):
    """A verify run from a shell without the service's key made itself one, chained the queued entries as forged and
    sealed the head with it: the trail was broken for good (a probe)."""
    ctx = app.state.ctx
    await arrived(phone, visit_id, app)
    note = phone.fact(topic="general", text="cable in the hall")
    assert (await phone.post(visit_id, "notes", note)).status_code == 201

    with monkeypatch.context() as wrong:
        wrong.setattr(ctx, "secret_key", lambda: b"a key made up in another data directory")
        with pytest.raises(UnsealedHead):
            await TrailWriter(ctx).chain_all_pending()
    await TrailWriter(ctx).chain_all_pending()

    assert await verify_trail(ctx) == (await TrailEntry.count(), None)
    assert not await TrailEntry.exists().where(TrailEntry.kind == FORGED_KIND)


async def test_a_trail_seal_by_hand_seals_nothing_when_the_head_does_not_name_the_last_entry(phone, visit_id, app):
    ctx = app.state.ctx
    await arrived(phone, visit_id, app)
    last = await TrailEntry.select(TrailEntry.seq).order_by(TrailEntry.seq, ascending=False).first()
    await TrailEntry.delete().where(TrailEntry.seq == last["seq"])
    await queue_completion_behind_the_services_back(visit_id)

    assert await TrailWriter(ctx).seal() == (False, 0)
    assert (await TrailPending.select(TrailPending.seal).first())["seal"] == ""

    new_last = await TrailEntry.select(TrailEntry.entry_hash).order_by(TrailEntry.seq, ascending=False).first()
    await TrailHead.update({TrailHead.entry_hash: new_last["entry_hash"]}, force=True)  # the operator, having looked
    assert await TrailWriter(ctx).seal() == (True, 1)


async def test_a_trail_whose_head_is_not_sealed_with_the_servers_key_leaves_readers_the_verdicts_as_they_are(
    client, phone, visit_id, app, as_auditor
):
    """Readers audit what is due first: with the head changed behind the service's back, that failed and every reader
    was answered 500, the technician's own list of visits among them."""
    await quiet(app)  # the booking's entries chained, the head sealed
    await TrailHead.update({TrailHead.seal: "0" * 64}, force=True)
    phone.clock.now = AGREED
    assert (await phone.post(visit_id, "arrival", phone.fact(location=phone.location()))).status_code == 201

    listed = await client.get("/v1/mobile/visits", params={"date": AGREED.date().isoformat()}, headers=phone.headers())
    queue = await client.get("/v1/review/queue", headers=as_auditor)

    assert (listed.status_code, [visit["id"] for visit in listed.json()]) == (200, [visit_id])
    assert queue.status_code == 200
    assert await TrailPending.exists().where(TrailPending.kind == "fact.arrival")  # kept, chained once sealed
    await TrailWriter(app.state.ctx).seal()  # the operator, the chain examined


async def test_a_trail_a_server_whose_key_did_not_seal_the_head_records_nothing_until_its_key_is_the_one(
    client, phone, visit_id, app, monkeypatch
):
    """A server started with another key took facts that the right one then chained as forgeries: the trail failed
    verification for good (a probe). It now answers writes 503 and records nothing; reads go on."""
    ctx = app.state.ctx
    await quiet(app)  # the booking's entries chained, the head sealed with the service's key
    with monkeypatch.context() as another_key:
        another_key.setattr(ctx, "secret_key", lambda: b"the key of a server started elsewhere")
        await check_trail(ctx)  # as its watch does every FIELDSVC_TRAIL_CHECK_SECONDS, and at start
        refused = await phone.post(visit_id, "on-my-way", phone.fact())
        listed = await client.get("/v1/mobile/visits", params={"date": AGREED.date().isoformat()},
                                  headers=phone.headers())
    await check_trail(ctx)
    taken = await phone.post(visit_id, "on-my-way", phone.fact())

    assert (refused.status_code, refused.json()["code"]) == (503, "service.trail_unsealed")
    assert refused.headers["Retry-After"] and listed.status_code == 200
    assert taken.status_code == 201 and await VisitEvent.count() == 1
    await quiet(app)
    assert await verify_trail(ctx) == (await TrailEntry.count(), None)
