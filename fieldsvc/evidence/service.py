"""Who may see which photo in which variant, and links to it that expire (presigned S3, or signed app links)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable
from uuid import UUID

from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.errors import api_error
from fieldsvc.evidence import repository
from fieldsvc.evidence.schemas import EvidenceUrl, Variant
from fieldsvc.mobile.photos import PhotoNotFound, storage_errors
from fieldsvc.storage import InvalidBlobToken, open_blob_token, sign_blob_token

OriginalForbidden = api_error(
    403, "photo.original_forbidden",
    "Only auditors and admins see original files (with their EXIF); ask for display or thumbnail."
)
BlobUrlExpired = api_error(403, "blob_url.expired", "This link has expired; ask for a new one.")
BlobUrlInvalid = api_error(403, "blob_url.invalid", "This link is not valid.")
BlobNotFound = api_error(404, "blob.not_found", "The file behind this link no longer exists.")

# Originals keep the EXIF (places, devices); everyone else gets the re-encoded derivatives, which carry none.
ORIGINAL_ROLES = ("auditor", "admin")
VARIANT_KEY_COLUMNS = {"original": "original_key", "display": "display_key", "thumbnail": "thumbnail_key"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
CONTENT_TYPES = {extension: content_type for content_type, extension in EXTENSIONS.items()}


@dataclass(frozen=True)
class BlobDownload:
    data: bytes
    content_type: str
    filename: str | None


def may_see(caller: Caller, photo: dict[str, Any]) -> bool:
    """Office roles see every photo; a technician only those of visits assigned to them."""
    if caller.role != "technician":
        return True
    return caller.technician_id is not None and photo["visit_technician"] == caller.technician_id


def download_name(photo: dict[str, Any], variant: Variant) -> str:
    content_type = photo["content_type"] if variant == "original" else "image/jpeg"
    return f"{photo['id']}-{variant}.{EXTENSIONS.get(content_type, 'bin')}"


class EvidenceService:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx

    def link_key(self) -> bytes:
        """A key of its own for blob links, derived from the app secret (of whatever length it was configured)."""
        return hmac.new(self.ctx.secret_key(), b"fieldsvc evidence links", hashlib.sha256).digest()

    async def photo_url(
        self, caller: Caller, photo_id: UUID, variant: Variant, link_for_token: Callable[[str], str]
    ) -> EvidenceUrl:
        """A link that expires: presigned by S3, or a token for this app's blob route on the local backend."""
        photo = await repository.viewable_photo(photo_id)
        if photo is None or not may_see(caller, photo):
            raise PhotoNotFound()
        if variant == "original" and caller.role not in ORIGINAL_ROLES:
            raise OriginalForbidden()
        return await self.link(photo, variant, link_for_token)

    async def link(self, photo: dict[str, Any], variant: Variant, link_for_token: Callable[[str], str]) -> EvidenceUrl:
        """An expiring link to a photo the caller was already allowed to see."""
        key = photo[VARIANT_KEY_COLUMNS[variant]]
        ttl = self.ctx.settings.evidence_url_ttl_seconds
        expires_at = self.ctx.now() + timedelta(seconds=ttl)
        with storage_errors():
            url = await self.ctx.blobs.presign_get(key, ttl)
        if url is None:
            token = sign_blob_token(self.link_key(), key, int(expires_at.timestamp()), download_name(photo, variant))
            url = link_for_token(token)
        return EvidenceUrl(url=url, variant=variant, expires_at=expires_at)

    async def open_blob(self, token: str) -> BlobDownload:
        """The blob a signed link grants, while it has not expired (by the service's clock)."""
        try:
            grant = open_blob_token(self.link_key(), token, int(self.ctx.now().timestamp()))
        except InvalidBlobToken as error:
            raise (BlobUrlExpired if error.code == "blob_url.expired" else BlobUrlInvalid)() from error
        with storage_errors():
            try:
                data = await self.ctx.blobs.get(grant.key)
            except KeyError:
                raise BlobNotFound() from None
        extension = (grant.filename or "").rpartition(".")[2]
        return BlobDownload(
            data=data, content_type=CONTENT_TYPES.get(extension, "application/octet-stream"), filename=grant.filename
        )
