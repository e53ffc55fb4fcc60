"""A-TRAIL: a server whose key did not seal the trail's head records nothing (its entries would read as forgeries)."""

from __future__ import annotations

import asyncio
import logging

from litestar import Request

from fieldsvc.context import AppContext
from fieldsvc.errors import RETRY_AFTER_SECONDS, TrailUnsealed
from fieldsvc.trail.service import TrailWriter

log = logging.getLogger("fieldsvc.trail")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UNGUARDED_PATHS = ("/health/", "/v1/auth/")  # logging in and out records nothing on the trail


async def check_trail(ctx: AppContext) -> bool:
    """Whether the trail's head is sealed with this server's key, remembered for the requests that follow."""
    vouched = await TrailWriter(ctx).can_chain()
    if vouched != ctx.trail_vouched:
        log.log(logging.INFO if vouched else logging.ERROR, "the trail's head is %s with this server's key: %s",
                "sealed" if vouched else "not sealed", "recording again" if vouched else "recording nothing")
    ctx.trail_vouched = vouched
    return vouched


async def watching_trail(ctx: AppContext) -> asyncio.Task[None]:
    """Check the head now (no request is taken before it, unless the database is down: the watch tries again), then
    every `trail_check_seconds`: a server started with another key than the one that sealed it took facts the right
    one then chained as forgeries, and the trail failed verification for good (a probe)."""
    await _check_or_keep(ctx)
    return asyncio.create_task(_watch(ctx), name="fieldsvc-trail-watch")


async def _watch(ctx: AppContext) -> None:
    while True:
        await asyncio.sleep(ctx.settings.trail_check_seconds)
        await _check_or_keep(ctx)


async def _check_or_keep(ctx: AppContext) -> None:
    try:
        await check_trail(ctx)
    except Exception as error:  # noqa: BLE001 - the database is down: the last answer stands until it is back
        log.warning("trail head check failed: %r", error)


def refuse_unvouched(request: Request, ctx: AppContext) -> None:
    """A write while the head is not sealed with this key is a 503, before anything is read or recorded."""
    if ctx.trail_vouched or request.method in SAFE_METHODS or request.url.path.startswith(UNGUARDED_PATHS):
        return
    raise TrailUnsealed(headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
