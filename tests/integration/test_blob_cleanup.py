"""Orphaned blobs are found and removed; blobs that photos refer to, and fresh ones, are kept."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from fieldsvc.evidence.cleanup import referenced_keys, remove_orphans
from tests.integration.mobile_builders import jpeg, phone, visit_id  # noqa: F401 - fixtures


def age(store, key: str, hours: float) -> None:  # noqa: ANN001 - the local store of the test app
    path = store.root.joinpath(*key.split("/"))
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


async def test_orphans_older_than_the_grace_are_removed_and_referenced_blobs_kept(app, phone, visit_id):
    blobs = app.state.ctx.blobs
    assert (await phone.photo(visit_id, "before", jpeg(3))).status_code == 201
    await blobs.put("original/aa/orphan-old", b"left by a failed commit", "image/jpeg")
    await blobs.put("original/aa/orphan-new", b"an upload still committing", "image/jpeg")
    age(blobs, "original/aa/orphan-old", hours=2)
    referenced = await referenced_keys()
    for key in referenced:
        age(blobs, key, hours=2)  # old, but a photo refers to it: must stay

    report = await remove_orphans(blobs, datetime.now(UTC), timedelta(hours=1), False, lambda n: None)

    keys = [k async for k in blobs.list_keys()]
    assert "original/aa/orphan-old" not in keys
    assert "original/aa/orphan-new" in keys
    assert len(referenced) == 3 and referenced <= set(keys)  # the photo's original, display and thumbnail
    assert report.removed >= 1


async def test_dry_run_deletes_nothing(app, client):
    blobs = app.state.ctx.blobs
    await blobs.put("original/bb/orphan", b"x", "image/jpeg")
    age(blobs, "original/bb/orphan", hours=2)
    report = await remove_orphans(blobs, datetime.now(UTC), timedelta(hours=1), True, lambda n: None)
    assert report.orphans >= 1 and report.removed == 0
    assert "original/bb/orphan" in [k async for k in blobs.list_keys()]
