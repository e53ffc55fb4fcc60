"""A-TRAIL: the entries queued for the chain carry the service's seal. One written behind its back is no statement:
the records check does not read it while it waits, and the chainer puts a record of the forgery on the chain in its
place, which `trail verify` names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from fieldsvc.tables import TrailEntry, TrailPending, Visit
from fieldsvc.trail.chain import FORGED_KIND, entry_text
from fieldsvc.trail.records import first_record_mismatch
from fieldsvc.trail.service import TrailWriter, queue_seal, verify_trail
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


async def test_a_trail_entries_queued_before_the_seal_existed_are_sealed_as_they_stand_by_its_migration(
    phone, visit_id, app
):
    await arrived(phone, visit_id, app)
    await queue_completion_behind_the_services_back(visit_id)  # as an older service queued it: no seal

    await TrailWriter(app.state.ctx).seal_queued()
    await TrailWriter(app.state.ctx).chain_all_pending()

    assert await verify_trail(app.state.ctx) == (await TrailEntry.count(), None)
    assert await first_record_mismatch(app.state.ctx) == (1, None)
