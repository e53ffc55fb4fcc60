"""Orphaned blobs are found and removed; blobs that photos refer to, fresh ones and other programs' files are kept."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from fieldsvc.evidence.cleanup import CleanupRefused, referenced_keys, remove_orphans
from fieldsvc.storage import content_key
from tests.integration.mobile_builders import jpeg, phone, visit_id  # noqa: F401 - fixtures


def age(store, key: str, hours: float) -> None:  # noqa: ANN001 - the local store of the test app
    path = store.root.joinpath(*key.split("/"))
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def orphan_key(name: str) -> str:
    return content_key(hashlib.sha256(name.encode()).hexdigest(), "original")


async def stored_orphan(blobs, name: str, hours: float) -> str:  # noqa: ANN001
    key = orphan_key(name)
    await blobs.put(key, name.encode(), "image/jpeg")
    age(blobs, key, hours)
    return key


async def cleanup(blobs, dry_run: bool = False, force: bool = False):  # noqa: ANN001, ANN201
    return await remove_orphans(blobs, datetime.now(UTC), timedelta(hours=1), dry_run, lambda n: None, force)


async def test_orphans_older_than_the_grace_are_removed_and_referenced_blobs_kept(app, phone, visit_id):
    blobs = app.state.ctx.blobs
    assert (await phone.photo(visit_id, "before", jpeg(3))).status_code == 201
    old = await stored_orphan(blobs, "left by a failed commit", hours=2)
    new = await stored_orphan(blobs, "an upload still committing", hours=0)
    referenced = await referenced_keys()
    for key in referenced:
        age(blobs, key, hours=2)  # old, but a photo refers to it: must stay

    report = await cleanup(blobs)

    keys = [k async for k in blobs.list_keys()]
    assert old not in keys and new in keys
    assert len(referenced) == 3 and referenced <= set(keys)  # the photo's original, display and thumbnail
    assert report.removed >= 1


async def test_dry_run_deletes_nothing(app, client):
    blobs = app.state.ctx.blobs
    key = await stored_orphan(blobs, "an orphan", hours=2)
    report = await cleanup(blobs, dry_run=True)
    assert report.orphans >= 1 and report.removed == 0
    assert key in [k async for k in blobs.list_keys()]


async def test_files_the_service_never_writes_are_left_alone_and_stop_nothing(app, phone, visit_id):
    """A file of another program in the store (a README, a backup in a shared bucket) crashed the cleanup (a probe)."""
    blobs = app.state.ctx.blobs
    assert (await phone.photo(visit_id, "before", jpeg(3))).status_code == 201
    orphan = await stored_orphan(blobs, "left by a failed commit", hours=2)
    for foreign in (("README.txt",), ("original", "README.TXT"), ("backups", "prod-db.dump")):
        path = blobs.root.joinpath(*foreign)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not the service's")
        os.utime(path, (time.time() - 7200, time.time() - 7200))

    report = await cleanup(blobs)

    assert report.foreign >= 3 and report.removed >= 1  # the store outlives each test's database
    assert blobs.root.joinpath("README.txt").exists() and blobs.root.joinpath("backups", "prod-db.dump").exists()
    assert orphan not in [k async for k in blobs.list_keys()]


async def test_a_database_that_refers_to_fewer_blobs_than_it_would_delete_deletes_none_unless_forced(app, client):
    """An empty database pointed at a production bucket counted all its evidence as orphans (a probe)."""
    blobs = app.state.ctx.blobs
    keys = [await stored_orphan(blobs, f"evidence of another database {n}", hours=2) for n in range(3)]

    with pytest.raises(CleanupRefused, match="may belong to another database"):
        await cleanup(blobs)
    assert set(keys) <= {k async for k in blobs.list_keys()}

    forced = await cleanup(blobs, force=True)
    assert forced.removed >= 3 and not set(keys) & {k async for k in blobs.list_keys()}
