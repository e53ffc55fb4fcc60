"""E-IMAGE and E-REUSE at ingest: photos and signatures, sent as multipart or uploaded straight to object storage."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from functools import partial
from typing import Any, TypeVar
from uuid import UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

import anyio.to_thread
import msgspec

from fieldsvc import geo
from fieldsvc.answers import Recorded
from fieldsvc.audit.rules.signature import signature_is_blank
from fieldsvc.audit.rules.site_care import UNLIKE_CLEAN_UP_PURPOSES
from fieldsvc.auth.caller import Caller
from fieldsvc.context import AppContext
from fieldsvc.errors import RETRY_AFTER_SECONDS, api_error, echo_limited
from fieldsvc.imaging import ImageLimits, ImageRejected, ProcessedImage, perceptual_distance, process_image
from fieldsvc.ink_print import COPY_MAX_DIFFERENCE, COPY_MIN_LIKENESS, density_likeness, print_difference
from fieldsvc.mobile import repository, reuse
from fieldsvc.mobile.clock import ClockReading, EventTiming
from fieldsvc.mobile.idempotency import body_digest
from fieldsvc.mobile.schemas import (
    Fact,
    FactResult,
    PhotoMeta,
    PhotoResult,
    PresignPhoto,
    PresignResult,
    SignatureMeta,
    SignatureResult,
    UploadForm,
)
from fieldsvc.mobile.service import (
    Decide,
    FactDraft,
    FactScope,
    MobileService,
    Outcome,
    PhotoNotFound,
    draft_of,
    technician_of,
    work_order_summary,
)
from fieldsvc.storage import BlobStore, StorageUnavailable, content_key, staging_key
from fieldsvc.tables import Photo, PhotoMatch
from fieldsvc.trail.derived import optional_photo_columns
from fieldsvc.trail.matches import stated_matches
from fieldsvc.trail.service import Statement
from fieldsvc.visible import names_someone
from fieldsvc.wire import NESTED_TOO_DEEP, whole_numbers_as_integers

log = logging.getLogger("fieldsvc.mobile.photos")

IMAGE_REJECTIONS = {
    code: api_error(422, code, message)
    for code, message in (
        ("image.empty", "E-IMAGE: the file is empty."),
        ("image.too_large", "E-IMAGE: the file is larger than an image may be."),
        ("image.unsupported_format", "E-IMAGE: the file is not a JPEG, PNG or WebP image."),
        ("image.svg", "E-IMAGE: the file is an SVG drawing (it can carry scripts), not a JPEG, PNG or WebP photo."),
        ("image.decompression_bomb", "E-IMAGE: the image declares a size no photo has; it was not decoded."),
        ("image.too_many_pixels", "E-IMAGE: the image has more pixels than allowed."),
        ("image.too_small", "E-IMAGE: the photo or signature pad is too small to show anything (a thumbnail)."),
        ("image.corrupt", "E-IMAGE: the image data is damaged."),
        ("image.truncated", "E-IMAGE: the image is cut off; upload the complete file again."),
    )
}
SignerUnnamed = api_error(
    422, "signature.signer_unnamed", "V-SIGN: signerName must name the person who signed, in letters of any script."
)
ImageRefused = api_error(422, "image.rejected", "E-IMAGE: the file is not an image this service keeps as evidence.")
StorageDown = api_error(503, "storage.unavailable", "The evidence store is unreachable; nothing was recorded. Retry.")
MetaInvalid = api_error(400, "upload.meta_invalid", "The `meta` part must be the fact's JSON (PhotoMeta or the like).")
PresignUnavailable = api_error(
    409, "upload.presign_unavailable", "This server keeps evidence on its own disk: send the photo as multipart."
)
UploadNotReceived = api_error(409, "upload.not_received", "Nothing has been uploaded to the presigned URL yet.")
UploadMismatch = api_error(
    422, "upload.mismatch", "The uploaded object is not what was announced (size, sha256 or type); nothing accepted."
)

UPLOAD_ERRORS = (*IMAGE_REJECTIONS.values(), ImageRefused, StorageDown)

SIGNATURE = "signature"
EXIF_TEXT_LENGTH = 128  # the width of the EXIF text columns; EXIF itself sets no limit
# Photo ingests take turns from indexing to matching, so two near-duplicates arriving together still see each other.
REUSE_LOCK_KEY = 0x2E05E
# V-SIGN: how far back the technician's own and the customer's signatures are compared with a new one for copies,
# and the technician's team's (colleagues pass files around; a year of a whole team's is too many for each signing).
SIGNATURE_LOOKBACK = timedelta(days=365)
SIGNATURE_TEAM_LOOKBACK = timedelta(days=30)
# Screenshots of one speed-test app are laid out alike, and two real tests' results differ in a few digits only: for
# them, as for signatures, only the very same file is reuse; so for a test result, and for a screenshot (imaging:
# ProcessedImage.screen) filed as "other", which proves nothing the standard asks. Site evidence is compared by
# likeness however flat it looks: a copy made flat (upscaled, posterized, framed) passed as a screenshot (a probe).
EXACT_REUSE_ONLY = frozenset({"test_result"})
SCREENSHOT_PURPOSES = frozenset({"other"})
# The server's confirmation of a presigned upload is a fact with an id derived from the photo's, claimed once.
CONFIRMATION_NAMESPACE = UUID("6f1d0c52-8d0e-4c55-9a51-0d1f3bb1c0de")

M = TypeVar("M", bound=Fact)
StoredDensity = Callable[[str], Awaitable[bytes | None]]  # a stored signature's ink density, by its file's hash


@contextmanager
def storage_errors() -> Iterator[None]:
    """An unreachable blob store is a 503 with Retry-After, never a 500."""
    try:
        yield
    except StorageUnavailable as error:
        log.warning("blob store unavailable: %s", error)
        raise StorageDown(headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from error


async def store_image(blobs: BlobStore, sha256: str, image: ProcessedImage, original: bytes) -> None:
    """The original and its two previews under their content keys, written at once so their fsyncs (or S3 PUTs)
    overlap; every write has finished before the first failure is raised."""
    writes = (
        blobs.put(content_key(sha256, "original"), original, image.content_type),
        blobs.put(content_key(sha256, "display"), image.display_jpeg, "image/jpeg"),
        blobs.put(content_key(sha256, "thumb"), image.thumbnail_jpeg, "image/jpeg"),
    )
    for outcome in await asyncio.gather(*writes, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


async def file_digest(data: bytes) -> str:
    """The upload's SHA-256, off the event loop: hashing a 12 MP photo takes milliseconds (hashlib frees the GIL)."""
    return await anyio.to_thread.run_sync(lambda: hashlib.sha256(data).hexdigest())


def photo_outcome(
    body: PhotoMeta | PresignPhoto, scope: FactScope, *, image: ProcessedImage, photo_id: UUID | None = None
) -> Outcome:
    return accepted_image(scope, image, body.purpose, photo_id or uuid4(), body.device_time.tzinfo)


def signature_outcome(
    body: SignatureMeta, scope: FactScope, *, image: ProcessedImage, stored_density: StoredDensity
) -> Outcome:
    """V-SIGN: the phone's summary digest and the one the service computes now are both kept; the audit compares."""
    accepted = accepted_image(scope, image, SIGNATURE, uuid4(), body.device_time.tzinfo, stored_density)
    signed = {
        "signer_name": body.signer_name,
        "summary_digest": body.summary_digest,
        "expected_digest": work_order_summary(scope.visit).digest,
        "ink_coverage": image.ink_coverage,
        "blank": signature_is_blank(image.ink_coverage, scope.policy),
    }
    return replace(accepted, details={**accepted.details, **signed})


def _taken_by(timing: EventTiming) -> datetime:
    """The latest a photo can have been taken by a clock the phone's user cannot set: the fact that sent it, dated by
    the phone's monotonic clock, or else the server's receipt (an offline phone's photo reaches it hours later)."""
    return timing.corrected_time if timing.source == "elapsed" else timing.received_at


def accepted_image(
    scope: FactScope, image: ProcessedImage, purpose: str, photo_id: UUID, phone_zone: tzinfo | None,
    stored_density: StoredDensity | None = None,
) -> Outcome:
    """The Photo row of an accepted image with what its EXIF says (E-TIME, E-PLACE, E-EDIT), and its reuse matches;
    `phone_zone`: the offset the phone sent the fact's deviceTime in (which E-TIME may read EXIF in);
    `stored_density`: for a signature, the ink density of a stored one, by its file's hash."""
    visit, exif = scope.visit, image.exif
    has_gps = exif.gps_latitude is not None and exif.gps_longitude is not None
    captured_at = exif.captured_at_utc(ZoneInfo(visit["time_zone"]), phone_zone, _taken_by(scope.timing))
    site = (visit["latitude"], visit["longitude"])
    gps_distance = geo.distance_m(exif.gps_latitude, exif.gps_longitude, *site) if has_gps else None
    derived = {
        "purpose": purpose,
        "sha256": image.sha256,
        "perceptual_hash": image.perceptual_hash,
        "fine_hash": image.fine_hashes[0],
        "captured_at_utc": captured_at,
        "captured_offset_known": exif.captured_utc_offset is not None,
        "gps_latitude": exif.gps_latitude if has_gps else None,
        "gps_longitude": exif.gps_longitude if has_gps else None,
        "gps_distance_m": gps_distance,
        **optional_photo_columns({"gps_fixed_at": exif.gps_fixed_at if has_gps else None}),
        "camera_make": _exif_text(exif.make),
        "camera_model": _exif_text(exif.model),
        "software": _exif_text(exif.software),
        "ink_coverage": image.ink_coverage if purpose == SIGNATURE else None,
        "ink_print": image.ink_print if purpose == SIGNATURE else None,
    }

    async def write(event_row_id: UUID) -> list[Statement]:
        await repository.insert_photo(
            Photo(
                id=photo_id,
                event=event_row_id,
                visit=visit["id"],
                technician=visit["technician"],
                status="accepted",
                content_type=image.content_type,
                byte_size=image.byte_size,
                width=image.width,
                height=image.height,
                original_key=content_key(image.sha256, "original"),
                thumbnail_key=content_key(image.sha256, "thumb"),
                display_key=content_key(image.sha256, "display"),
                created_at=scope.now,
                **derived,
            )
        )
        if purpose == SIGNATURE:
            matches = await record_signature_reuse(photo_id, image, scope, stored_density)
        else:
            screenshot = image.screen and purpose in SCREENSHOT_PURPOSES
            by_likeness = image.detailed and not screenshot and purpose not in EXACT_REUSE_ONLY
            matches = await record_reuse(
                photo_id, visit["id"], purpose, image, scope.timing.corrected_time, by_likeness=by_likeness
            )
        return [await stated_matches(visit["id"], photo_id, [match.pair_key for match in matches])]

    details = {
        "photo_id": photo_id,
        "purpose": purpose,
        "content_type": image.content_type,
        "byte_size": image.byte_size,
        "width": image.width,
        "height": image.height,
        "sha256": image.sha256,
        "captured_at": captured_at,
    }
    return Outcome(details=details, write=write, derived=derived)


async def record_signature_reuse(
    photo_id: UUID, image: ProcessedImage, scope: FactScope, stored_density: StoredDensity | None
) -> list[PhotoMatch]:
    """V-SIGN: another visit's signature is reuse (recorded both ways) when it is the very same file, or when it has
    the same strokes (a copy re-saved, resized or touched up: alike prints, then alike ink densities, see
    fieldsvc.ink_print) and is one of the technician's or the customer's signatures of the last year, or the
    technician's team's of the last month. Signatures are never compared with photos, nor by perceptual hash: every
    signature is ink on white, alike by nature. The distance recorded is the prints' difference in percent. A copy of
    the visit's own earlier signature is recorded too: it was signed when that one was (the audit reads it so; signed
    before the clean-up and re-saved to be sent again after it, a copy passed as a new signing; a probe)."""
    await repository.take_turn(REUSE_LOCK_KEY)
    visit, now = scope.visit, scope.now
    matches: list[PhotoMatch] = []
    compared = await repository.signatures_to_compare(
        visit, photo_id, image.sha256, now - SIGNATURE_LOOKBACK, now - SIGNATURE_TEAM_LOOKBACK
    )
    for other in compared:
        identical = other["sha256"] == image.sha256
        difference = 0.0
        if not identical:
            if image.ink_print is None or other["ink_print"] is None:
                continue
            difference = print_difference(image.ink_print, other["ink_print"])
            if difference > COPY_MAX_DIFFERENCE or image.ink_density is None or stored_density is None:
                continue
            other_density = await stored_density(other["sha256"])  # rare: the prints are alike
            if other_density is None or density_likeness(image.ink_density, other_density) < COPY_MIN_LIKENESS:
                continue
        matches.extend(_both_ways(
            photo_id, visit["id"], other, (round(difference * 100), None), identical, scope.timing.corrected_time
        ))
    await repository.insert_matches(matches)
    return matches


# V-CLEAN: which photos of its own visit a new one is compared with, turned and mirrored too (the audit compares the
# stored upright hashes only): a site-clean photo must not be a picture from before the work again.
SAME_VISIT_COUNTERPARTS = {
    "site_clean": UNLIKE_CLEAN_UP_PURPOSES,
    **{purpose: frozenset({"site_clean"}) for purpose in UNLIKE_CLEAN_UP_PURPOSES},
}


async def record_reuse(
    photo_id: UUID, visit_id: UUID, purpose: str, image: ProcessedImage, recorded_at: datetime, *, by_likeness: bool
) -> list[PhotoMatch]:
    """E-REUSE: record, both ways, each photo of another visit this one repeats: the same file, or (by_likeness) a
    perceptual near-duplicate, found through the hash bands this photo is then indexed under too. V-CLEAN: the same
    for the photos of its own visit it must not repeat."""
    await repository.take_turn(REUSE_LOCK_KEY)
    orientations = (image.perceptual_hash, *image.turned_hashes)  # a copy turned or mirrored is still a copy
    probes: list[int] = []
    if by_likeness:
        await repository.insert_bands(photo_id, reuse.band_keys(image.perceptual_hash))
        probes = sorted({key for turned in orientations for key in reuse.probe_keys(turned)})
    candidates = await repository.reuse_candidates(visit_id, probes, image.sha256)
    counterparts = SAME_VISIT_COUNTERPARTS.get(purpose)
    if counterparts is not None:
        candidates += await repository.photos_of_visit(visit_id, counterparts)
    matches: list[PhotoMatch] = []
    for other in candidates:
        identical = other["sha256"] == image.sha256
        distance = min(perceptual_distance(turned, other["perceptual_hash"]) for turned in orientations)
        if identical or distance <= reuse.MAX_REUSE_DISTANCE:
            # The audit needs both to call it the same picture (a photo stored before fine hashes has none).
            fine = None if other["fine_hash"] is None else min(
                perceptual_distance(own, other["fine_hash"]) for own in image.fine_hashes
            )
            matches.extend(_both_ways(photo_id, visit_id, other, (distance, fine), identical, recorded_at))
    await repository.insert_matches(matches)
    return matches


def _both_ways(
    photo_id: UUID, visit_id: UUID, other: repository.Row, distances: tuple[int, int | None], identical: bool,
    recorded_at: datetime,
) -> tuple[PhotoMatch, PhotoMatch]:
    """A new photo's match with a stored one, recorded from each side, each row saying which of the two came first:
    the one its phone recorded first (a photo held back on a phone without signal reaches the service after its copy
    may have), the stored one when as early or when its time is unknown."""
    other_first = other.get("recorded_at") is None or other["recorded_at"] <= recorded_at
    return (
        _match(photo_id, visit_id, other["id"], other["visit"], distances, identical, other_first=other_first),
        _match(other["id"], other["visit"], photo_id, visit_id, distances, identical, other_first=not other_first),
    )


def _match(
    photo_id: UUID, visit_id: UUID, other_id: UUID, other_visit: UUID, distances: tuple[int, int | None],
    identical: bool, *, other_first: bool,
) -> PhotoMatch:
    return PhotoMatch(
        pair_key=f"{photo_id}:{other_id}",
        photo=photo_id,
        visit=visit_id,
        other_photo=other_id,
        other_visit=other_visit,
        distance=distances[0],
        fine_distance=distances[1],
        identical=identical,
        other_first=other_first,
    )


def _exif_text(value: str | None) -> str | None:
    return None if value is None else value[:EXIF_TEXT_LENGTH]


def decode_meta(text: str, meta_type: type[M]) -> M:
    """The `meta` part, read as strictly as a JSON body, a whole number written 1234.0 included (a probe: refused)."""
    try:
        return msgspec.json.decode(text, type=meta_type)
    except msgspec.ValidationError:
        pass  # read again below, to tell a whole number written 1234.0 from a wrong value
    except msgspec.DecodeError as error:
        raise MetaInvalid(details={"reason": echo_limited(str(error))}) from error
    try:
        return msgspec.convert(whole_numbers_as_integers(msgspec.json.decode(text)), meta_type, strict=True)
    except msgspec.DecodeError as error:  # ValidationError included; malformed after a leading value of a wrong type
        raise MetaInvalid(details={"reason": echo_limited(str(error))}) from error
    except RecursionError:
        raise MetaInvalid(details={"reason": NESTED_TOO_DEEP}) from None


def granted(body: PresignPhoto, scope: FactScope, *, grant: dict[str, Any]) -> Outcome:
    return Outcome(details=grant)


def timing_of(event: dict[str, Any]) -> EventTiming:
    """The times a stored fact was recorded with (a presigned photo keeps those of its announcement)."""
    return EventTiming(
        device_time=event["device_time"],
        device_elapsed_ms=event["device_elapsed_ms"],
        received_at=event["server_received_at"],
        clock_offset_ms=event["clock_offset_ms"],
        corrected_time=event["corrected_time"],
        source=event["time_source"],
        device_id=event["device"],
        device_boot=event["device_boot"],
        batch_position=event["batch_position"],
    )


class PhotoIngest:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.facts = MobileService(ctx)
        self.limits = ImageLimits(max_bytes=ctx.settings.max_upload_bytes, max_pixels=ctx.settings.max_image_pixels)

    async def upload_photo(
        self, caller: Caller, visit_id: UUID, form: UploadForm, reading: ClockReading
    ) -> Recorded[FactResult]:
        meta = decode_meta(form.meta, PhotoMeta)
        data = await form.file.read()
        return await self._ingest(caller, visit_id, "photo", meta, data, reading, PhotoResult, photo_outcome)

    async def upload_signature(
        self, caller: Caller, visit_id: UUID, form: UploadForm, reading: ClockReading
    ) -> Recorded[FactResult]:
        meta = decode_meta(form.meta, SignatureMeta)
        if not names_someone(meta.signer_name):
            raise SignerUnnamed()
        return await self._ingest(
            caller, visit_id, SIGNATURE, meta, await form.file.read(), reading, SignatureResult, signature_outcome
        )

    async def _ingest(
        self,
        caller: Caller,
        visit_id: UUID,
        kind: str,
        meta: Fact,
        data: bytes,
        reading: ClockReading,
        result_type: type[FactResult],
        outcome: Decide,
    ) -> Recorded[FactResult]:
        """A replay is answered before any decoding; a new image is decoded off the loop and stored, then recorded."""
        # The file's hash joins the digest: the same eventId with other bytes is another fact, so a conflict.
        file_sha256 = await file_digest(data)
        draft = draft_of(kind, visit_id, meta, reading, result_type, extra={"fileSha256": file_sha256})
        prior = await self.facts.prior_answer(caller, visit_id, draft)
        if prior is not None:
            return prior
        image = await self._decode(data, file_sha256, signature=kind == SIGNATURE)
        await self._store(image, data)
        compared = {"stored_density": self._stored_density} if kind == SIGNATURE else {}
        decide = partial(outcome, image=image, **compared)
        return await self.facts.record_fact(caller, visit_id, replace(draft, decide=decide))

    async def presign(
        self, caller: Caller, visit_id: UUID, body: PresignPhoto, reading: ClockReading
    ) -> Recorded[FactResult]:
        """Announce a photo and grant a direct upload; the photo id is the announcement's row id."""
        if body.byte_size > self.limits.max_bytes:
            raise IMAGE_REJECTIONS["image.too_large"]()
        draft = draft_of("photo_presign", visit_id, body, reading, PresignResult)
        prior = await self.facts.prior_answer(caller, visit_id, draft)
        if prior is not None:
            return prior
        ttl = self.ctx.settings.upload_url_ttl_seconds
        with storage_errors():
            upload = await self.ctx.blobs.presign_put(staging_key(draft.row_id), body.content_type, body.byte_size, ttl)
        if upload is None:
            raise PresignUnavailable()
        grant = {
            "photo_id": draft.row_id,
            "upload_url": upload["url"],
            "method": upload["method"],
            "headers": upload["headers"],
            "expires_at": self.ctx.now() + timedelta(seconds=ttl),
        }
        return await self.facts.record_fact(caller, visit_id, replace(draft, decide=partial(granted, grant=grant)))

    async def confirm(self, caller: Caller, visit_id: UUID, photo_id: UUID) -> Recorded[FactResult]:
        """Accept a presigned upload exactly like a multipart one, once the object proves to be what was announced."""
        presigned = await repository.presign_grant(photo_id, visit_id, technician_of(caller))
        if presigned is None:
            technician = technician_of(caller)
            if await repository.own_visit(visit_id, technician) is None:  # handed over, or never theirs
                raise await self.facts.not_assigned_error(visit_id, technician)
            raise PhotoNotFound()
        announced = msgspec.convert(presigned["payload"], PresignPhoto)
        payload = {"photoId": str(photo_id), "presignEventId": str(announced.event_id), "purpose": announced.purpose}
        draft = FactDraft(
            kind="photo",
            event_id=uuid5(CONFIRMATION_NAMESPACE, str(photo_id)),
            body=announced,
            payload=payload,
            digest=body_digest("photo", visit_id, payload),
            timing=timing_of(presigned),
            result_type=PhotoResult,
        )
        prior = await self.facts.prior_answer(caller, visit_id, draft)
        if prior is not None:
            return prior
        try:
            data = await self._fetch_upload(photo_id, announced)
        except (UploadNotReceived, StorageDown):
            # A confirm racing this one recorded the photo and tidied its upload away since, maybe while this one read
            # it (a probe: told 409, or 503 from an S3 emulator): the photo is recorded, whatever the store says now.
            prior = await self.facts.prior_answer(caller, visit_id, draft)
            if prior is None:
                raise
            return prior
        image = await self._decode(data, announced.sha256)
        if image.content_type != announced.content_type:
            raise UploadMismatch(details={"contentType": image.content_type, "announced": announced.content_type})
        await self._store(image, data)
        decide = partial(photo_outcome, image=image, photo_id=photo_id)
        recorded = await self.facts.record_fact(caller, visit_id, replace(draft, decide=decide))
        await self._discard(staging_key(photo_id))
        return recorded

    async def _fetch_upload(self, photo_id: UUID, announced: PresignPhoto) -> bytes:
        """The uploaded object, held to what was announced: presigned PUTs (and emulators) enforce nothing."""
        key = staging_key(photo_id)
        with storage_errors():
            info = await self.ctx.blobs.head(key)
            if info is None:
                raise UploadNotReceived()
            if info.size != announced.byte_size:
                raise UploadMismatch(details={"byteSize": info.size, "announced": announced.byte_size})
            try:
                data = await self.ctx.blobs.get(key)
            except KeyError:
                raise UploadNotReceived() from None
        actual = await file_digest(data)
        if actual != announced.sha256:
            raise UploadMismatch(details={"sha256": actual, "announced": announced.sha256})
        return data

    async def _decode(self, data: bytes, sha256: str, *, signature: bool = False) -> ProcessedImage:
        try:
            decode = partial(process_image, data, self.limits, signature=signature, sha256=sha256)
            return await anyio.to_thread.run_sync(decode)
        except ImageRejected as rejected:
            error = IMAGE_REJECTIONS.get(rejected.code, ImageRefused)
            raise error(rejected.message, details={"imageCode": rejected.code}) from rejected

    async def _stored_density(self, sha256: str) -> bytes | None:
        """V-SIGN: the ink density of a stored signature, measured again from its original file unless it was here."""
        density = self.ctx.signature_densities.get(sha256)
        if density is None:
            with storage_errors():
                data = await self.ctx.blobs.get(content_key(sha256, "original"))
            density = (await self._decode(data, sha256, signature=True)).ink_density
            if density is not None:
                self.ctx.signature_densities.keep(sha256, density)
        return density

    async def _store(self, image: ProcessedImage, original: bytes) -> None:
        """Content keys: storing bytes that are already there is harmless, and a fact failing later breaks nothing."""
        with storage_errors():
            await store_image(self.ctx.blobs, image.sha256, image, original)

    async def _discard(self, key: str) -> None:
        """Tidy the staging object; a later re-confirm replays the stored fact and never needs it again."""
        try:
            await self.ctx.blobs.delete(key)
        except StorageUnavailable as error:
            log.warning("staging object %s left behind: %s", key, error)
