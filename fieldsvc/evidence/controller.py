"""HTTP routes for evidence links and the public, token-guarded blob route of the local backend."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.params import FromPath, FromQuery

from fieldsvc.auth.caller import CallerDep, allow
from fieldsvc.context import Ctx
from fieldsvc.errors import documented
from fieldsvc.evidence.schemas import EvidenceUrl, Variant
from fieldsvc.evidence.service import BlobNotFound, BlobUrlExpired, BlobUrlInvalid, EvidenceService, OriginalForbidden
from fieldsvc.mobile.photos import PhotoNotFound, StorageDown
from fieldsvc.storage import content_disposition

BLOB_ROUTE = "evidence.blob"


class EvidenceController(Controller):
    path = "/v1"
    tags = ["evidence"]

    @get(
        "/photos/{photo_id:uuid}/url",
        guards=[allow("technician", "dispatcher", "auditor")],
        responses=documented(PhotoNotFound, OriginalForbidden, StorageDown),
    )
    async def photo_url(
        self,
        request: Request,
        photo_id: FromPath[UUID],
        ctx: Ctx,
        caller: CallerDep,
        variant: FromQuery[Variant] = "display",
    ) -> EvidenceUrl:
        """An expiring link to a photo. `original` (with EXIF) is for auditors; a technician sees only their visits'."""
        return await EvidenceService(ctx).photo_url(
            caller, photo_id, variant, lambda token: request.url_for(BLOB_ROUTE, token=token)
        )

    @get(
        "/blobs/{token:str}",
        name=BLOB_ROUTE,
        security=[],
        media_type="image/*",
        responses=documented(BlobUrlExpired, BlobUrlInvalid, BlobNotFound, StorageDown, public=True),
    )
    async def blob(self, token: FromPath[str], ctx: Ctx) -> Response[bytes]:
        """The bytes behind a signed evidence link (local blob store); the token is the only credential."""
        download = await EvidenceService(ctx).open_blob(token)
        # The image alone: no script, style or frame runs in the page a browser makes around it.
        headers = {"Cache-Control": "private", "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
        if download.filename:
            headers["Content-Disposition"] = content_disposition(download.filename)
        return Response(download.data, media_type=download.content_type, headers=headers)
