"""The long-lived collaborators of one running app, built from settings without any I/O."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from datetime import UTC, datetime
from typing import Callable
from pathlib import Path

from litestar.di import NamedDependency
from piccolo.engine.base import Engine

from fieldsvc import db
from fieldsvc.audit.policy import PolicyBook, load_default_policies
from fieldsvc.auth.sessions import SessionMemory
from fieldsvc.config import Settings
from fieldsvc.ink_print import DensityMemory
from fieldsvc.storage import BlobStore, LocalBlobStore


SIGNATURE_DENSITIES_KEPT = 2048  # 12 MB: a busy customer's year of signatures, and then some


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    blobs: BlobStore
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # tests replace it to travel in time
    audit_wakeup: asyncio.Event = field(default_factory=asyncio.Event)  # set when a fact marked a visit due
    trail_vouched: bool = True  # the trail's head was sealed with this key when last checked (fieldsvc.trail.guard)

    @cached_property
    def sessions(self) -> SessionMemory:
        return SessionMemory(self.settings.token_memory_seconds)

    def now(self) -> datetime:
        return self.clock()

    @cached_property
    def signature_densities(self) -> DensityMemory:
        """V-SIGN: stored signatures' ink densities, measured once per process (6 KB each)."""
        return DensityMemory(SIGNATURE_DENSITIES_KEPT)

    @cached_property
    def policies(self) -> PolicyBook:
        """The versioned audit policies, read from package data on first use."""
        return load_default_policies()

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine | None = None, *, create_bucket: bool = True) -> AppContext:
        engine = engine or db.engine_for_url(settings.effective_database_url)
        return cls(settings=settings, engine=engine, blobs=blob_store_for(settings, create_bucket=create_bucket))

    def secret_key(self) -> bytes:
        return self._secret_key

    @cached_property
    def _secret_key(self) -> bytes:
        """The signing key: configured, or generated once and kept in the data dir (so workers agree)."""
        if self.settings.secret_key:
            return self.settings.secret_key.encode()
        path = Path(self.settings.data_dir) / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f"secret_key.{secrets.token_hex(4)}")
            draft.write_text(secrets.token_hex(32))
            # link() publishes a complete file or fails if another worker won: all workers read one key.
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
            draft.unlink()
        return path.read_text().strip().encode()


def blob_store_for(settings: Settings, *, create_bucket: bool = True) -> BlobStore:
    """create_bucket: the server creates a missing bucket on first use (saying so in its log); a command that checks
    or cleans the store must not: a mistyped bucket name made a new, empty one that "lost" every photo (a probe)."""
    if settings.blob_backend == "local":
        return LocalBlobStore(settings.blob_dir)
    from fieldsvc.storage import S3BlobStore  # boto3 is imported only when S3 is configured

    return S3BlobStore(
        bucket=settings.s3_bucket,
        region=settings.s3_region,
        endpoint_url=settings.s3_endpoint_url,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        ensure_bucket=create_bucket,
    )


Ctx = NamedDependency[AppContext]
