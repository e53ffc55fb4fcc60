"""HTTP routes of the technician's phone: facts, photos and signatures, presigned uploads, the offline sync."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from uuid import UUID

from litestar import Controller, Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPI, OpenAPIFormat, OpenAPIType, Schema
from litestar.params import Body, FromPath, HeaderParameter, JSONBody

from fieldsvc.auth.caller import Caller, CallerDep, allow
from fieldsvc.config import Settings
from fieldsvc.context import AppContext, Ctx
from fieldsvc.errors import ApiError, TooManyParts, ValidationFailed, documented
from fieldsvc.mobile.clock import ClockReading
from fieldsvc.mobile.completion import AbsentCustomerResolved, CompletionReasonRequired, VisitIncomplete
from fieldsvc.answers import REPLAY_HEADER, answered
from fieldsvc.mobile.receipt import RECEIVED_AT
from fieldsvc.spec import operations
from fieldsvc.mobile.photos import (
    IMAGE_REJECTIONS,
    UPLOAD_ERRORS,
    MetaInvalid,
    PhotoIngest,
    PresignUnavailable,
    SignerUnnamed,
    StorageDown,
    UploadMismatch,
    UploadNotReceived,
)
from fieldsvc.mobile.schemas import (
    Fact,
    FactKind,
    FactResult,
    PhotoResult,
    PresignPhoto,
    PresignResult,
    SignatureResult,
    SYNC_ITEM,
    Summary,
    SyncBatch,
    SyncReceipts,
    UploadForm,
)
from fieldsvc.mobile.service import (
    CLOCK_ERRORS,
    FACT_ERRORS,
    FACTS,
    ConsentScopeRequired,
    MobileService,
    NotReturned,
    PhotoAlreadyWithdrawn,
    PhotoNotFound,
    RestoreByBeforeLeave,
    RestoreByTooFar,
    RestoreByRequired,
    ShoeReasonRequired,
    VisitNotFound,
    VisitReassigned,
    read_clock,
)

# Room for the multipart framing and the meta part on top of the largest image allowed.
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_PARTS = 4  # meta and file; a body with many more parts is refused before they are all parsed
SYNC_BODY_LIMIT = 4 * 1024 * 1024  # 500 facts with long notes outgrow the app's 1 MiB JSON limit

Reading = NamedDependency[ClockReading]
Upload = Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART, multipart_form_part_limit=UPLOAD_PARTS)]


def provide_reading(
    ctx: Ctx,
    request: Request,
    device_clock: Annotated[
        str | None,
        HeaderParameter(
            name="X-Device-Clock", required=False, description="E-CLOCK, required: RFC 3339 wall clock at send"
        ),
    ] = None,
    device_elapsed_ms: Annotated[
        str | None,
        HeaderParameter(name="X-Device-Elapsed-Ms", required=False, description="E-CLOCK: monotonic ms at send"),
    ] = None,
    device_id: Annotated[
        str | None,
        HeaderParameter(
            name="X-Device-Id",
            required=False,
            description="E-CLOCK: the app's id for this phone, the same on every request (a technician's spare phone "
            "has its own clocks); 1 to 64 of A-Z a-z 0-9 - . _ :",
        ),
    ] = None,
    device_boot: Annotated[
        str | None,
        HeaderParameter(
            name="X-Device-Boot",
            required=False,
            description="E-CLOCK: the phone's boot count at send (Android: Settings.Global.BOOT_COUNT), with "
            "X-Device-Elapsed-Ms; each fact then names its own in deviceBoot",
        ),
    ] = None,
) -> ClockReading:
    allowance = timedelta(seconds=ctx.settings.clock_transit_allowance_seconds)
    received_at = request.scope["state"].get(RECEIVED_AT) or ctx.now()
    return read_clock(received_at, device_clock, device_elapsed_ms, allowance, device_id, device_boot)


def fact_responses(
    result_type: type[FactResult], *errors: type[ApiError], reads_clock: bool = True
) -> dict[int, ResponseSpec]:
    replay = ResponseSpec(
        data_container=result_type,
        description=f"This fact (eventId, body) was recorded before: its first answer, with `{REPLAY_HEADER}: true`.",
    )
    return {**documented(*FACT_ERRORS, *(CLOCK_ERRORS if reads_clock else ()), *errors), 200: replay}


@dataclass(frozen=True)
class FactRoute:
    """A JSON fact endpoint: its path under the visit, its kind, what it documents."""

    path: str
    kind: FactKind
    doc: str
    errors: tuple[type[ApiError], ...] = ()


FACT_ROUTES = (
    FactRoute("on-my-way", "on_my_way", "Leaving for the visit: an assigned visit becomes en route."),
    FactRoute("arrival", "arrival", "V-CHECKIN: the raw fix, its distance from the site, the time corrected (E-CLOCK)."),
    FactRoute(
        "steps",
        "step",
        "A step confirmation: V-ID, V-MAT, V-CONSENT (with its scope), V-SHOES (rural: the note is the reason).",
        (ConsentScopeRequired, ShoeReasonRequired),
    ),
    FactRoute("notes", "note", "A note, e.g. why a rural visit has no shoe-cover photo (V-SHOES)."),
    FactRoute(
        "leave",
        "leave",
        "V-LEAVE: leaving the site for a while; not coming back needs the restore-by time told to the customer.",
        (RestoreByRequired, RestoreByBeforeLeave, RestoreByTooFar),
    ),
    FactRoute(
        "return", "return",
        "V-LEAVE: back on site after a recorded leave, a new check-in (the geofence applies again); a trip to correct a "
        "visit an auditor returned begins with an arrival.",
    ),
    FactRoute("test-result", "test_result", "V-TEST: the service test and whether the customer accepted it."),
    FactRoute("questions", "question", "V-ASK: a question to follow up within 48 h, with the customer's contact."),
    FactRoute("service-card", "service_card", "V-CARD: the card, generated and kept by the service (never typed)."),
    FactRoute("checkout", "checkout", "V-CHECKOUT: leaving the site, with a geotag."),
    FactRoute(
        "photo-withdrawals",
        "photo_withdrawal",
        "A-DECIDE: withdraw a photo or signature of this visit sent by mistake, while an auditor has the visit returned "
        "for correction (it stays in the evidence, marked withdrawn; the audit no longer reads it).",
        (NotReturned, PhotoNotFound, PhotoAlreadyWithdrawn),
    ),
    FactRoute(
        "complete",
        "completion",
        "V-CLOSE: complete the visit with its outcome; refused (422 visit.incomplete) with every item still missing.",
        (VisitIncomplete, CompletionReasonRequired, AbsentCustomerResolved),
    ),
)


def fact_handler(route: FactRoute) -> HTTPRouteHandler:
    """One JSON fact endpoint, typed from its kind so the OpenAPI document names its body and its answer."""
    spec = FACTS[route.kind]

    async def handler(
        visit_id: UUID, data: Fact, ctx: AppContext, caller: Caller, reading: ClockReading
    ) -> Response[FactResult]:
        return answered(await MobileService(ctx).record(route.kind, caller, visit_id, data, reading))

    handler.__name__ = handler.__qualname__ = route.kind  # the operation's name in the OpenAPI document
    handler.__doc__ = route.doc
    handler.__annotations__ = {
        "visit_id": FromPath[UUID],
        "data": JSONBody[spec.body_type],
        "ctx": Ctx,
        "caller": CallerDep,
        "reading": Reading,
        "return": Response[spec.result_type],
    }
    return post(f"/visits/{{visit_id:uuid}}/{route.path}", responses=fact_responses(spec.result_type, *route.errors))(
        handler
    )


# A rejected receipt carries the code the fact's own endpoint would have answered with.
RECEIPT_CODES = sorted(
    {ValidationFailed.code} | {error.code for error in FACT_ERRORS} | {e.code for r in FACT_ROUTES for e in r.errors}
)
SYNC_DESCRIPTION = (
    "Offline facts (up to 500) in order, each in its own transaction: a receipt per fact, bad ones rejected. A rejected "
    "receipt's `code` is one its fact's own endpoint answers with: " + ", ".join(f"`{code}`" for code in RECEIPT_CODES)
    + "."
)


class MobileController(Controller):
    @get("/visits/{visit_id:uuid}/summary", responses=documented(VisitNotFound, VisitReassigned))
    async def summary(self, visit_id: FromPath[UUID], ctx: Ctx, caller: CallerDep) -> Summary:
        """V-SIGN: the work-order summary to show the customer, and the digest the signature must carry."""
        return await MobileService(ctx).summary(caller, visit_id)

    @post(
        "/visits/{visit_id:uuid}/photos/presign",
        responses=fact_responses(PresignResult, PresignUnavailable, StorageDown, IMAGE_REJECTIONS["image.too_large"]),
    )
    async def presign_photo(
        self, visit_id: FromPath[UUID], data: JSONBody[PresignPhoto], ctx: Ctx, caller: CallerDep, reading: Reading
    ) -> Response[PresignResult]:
        """A direct upload to object storage (S3 only), then confirm; if the URL expired, presign with a new eventId."""
        return answered(await PhotoIngest(ctx).presign(caller, visit_id, data, reading))

    @post(
        "/visits/{visit_id:uuid}/photos/{photo_id:uuid}/confirm",
        responses=fact_responses(
            PhotoResult, PhotoNotFound, UploadNotReceived, UploadMismatch, *UPLOAD_ERRORS, reads_clock=False
        ),
    )
    async def confirm_photo(
        self, visit_id: FromPath[UUID], photo_id: FromPath[UUID], ctx: Ctx, caller: CallerDep
    ) -> Response[PhotoResult]:
        """Accept a presigned upload once its size, sha256 and image check out; until then it is no evidence."""
        return answered(await PhotoIngest(ctx).confirm(caller, visit_id, photo_id))

    @post(
        "/sync", status_code=200, request_max_body_size=SYNC_BODY_LIMIT, responses=documented(*CLOCK_ERRORS),
        description=SYNC_DESCRIPTION,
    )
    async def sync(self, data: JSONBody[SyncBatch], ctx: Ctx, caller: CallerDep, reading: Reading) -> SyncReceipts:
        return await MobileService(ctx).sync(caller, data, reading)


class UploadController(Controller):
    @post(
        "/visits/{visit_id:uuid}/photos",
        responses=fact_responses(PhotoResult, MetaInvalid, TooManyParts, *UPLOAD_ERRORS),
    )
    async def upload_photo(
        self, visit_id: FromPath[UUID], data: Upload, ctx: Ctx, caller: CallerDep, reading: Reading
    ) -> Response[PhotoResult]:
        """E-IMAGE: a photo as multipart; E-REUSE matches are recorded.

        `meta`, the fact as JSON: `{"eventId": "<uuid>", "deviceTime": "2026-12-06T10:02:00+08:00",
        "deviceElapsedMs": 3600000, "purpose": "shoe_covers"}` (`deviceElapsedMs` when the phone has it; `purpose` one
        of shoe_covers, tool_mat, site_clean, test_result, before, after, other); `file`, the image (JPEG, PNG or WebP).
        """
        return answered(await PhotoIngest(ctx).upload_photo(caller, visit_id, data, reading))

    @post(
        "/visits/{visit_id:uuid}/signature",
        responses=fact_responses(SignatureResult, MetaInvalid, SignerUnnamed, TooManyParts, *UPLOAD_ERRORS),
    )
    async def upload_signature(
        self, visit_id: FromPath[UUID], data: Upload, ctx: Ctx, caller: CallerDep, reading: Reading
    ) -> Response[SignatureResult]:
        """V-SIGN: the customer's signature as multipart.

        `meta`, the fact as JSON: `{"eventId": "<uuid>", "deviceTime": "2026-12-06T11:05:00+08:00",
        "deviceElapsedMs": 7200000, "signerName": "Li Wei", "summaryDigest": "<the digest of GET .../summary the
        customer was shown>"}`; `file`, the signature image (PNG or WebP with a transparent pad, or JPEG), at
        least 120x40 pixels (the whole pad, or cropped to the ink).
        """
        return answered(await PhotoIngest(ctx).upload_signature(caller, visit_id, data, reading))


def complete_mobile_spec(openapi: OpenAPI) -> None:
    """What the OpenAPI document cannot render from the types, for the phone developers building from it: the sync
    batch's items (read as anything, so that a malformed one is rejected in its own receipt, they rendered as `{}`),
    and X-Device-Clock's being required (declared optional so that its absence is clock.required, not a generic 400).
    It amends the app's cached document: call it again after registering routes later, which rebuilds it."""
    endpoints = ", ".join(f"{route.kind} (POST .../{route.path})" for route in FACT_ROUTES)
    item = Schema(
        type=OpenAPIType.OBJECT,
        required=["type", "visitId", "body"],
        properties={
            "type": Schema(type=OpenAPIType.STRING, enum=[route.kind for route in FACT_ROUTES],
                           description="the fact's kind: snake_case, where its own endpoint's path is kebab-case"),
            "visitId": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.UUID),
            "body": Schema(type=OpenAPIType.OBJECT, additional_properties=True,
                           description=f"the request body of the kind's own endpoint: {endpoints}"),
        },
        description=SYNC_ITEM.description,
        examples=SYNC_ITEM.examples,
    )
    openapi.components.schemas["SyncBatch"].properties["facts"].items = item
    for operation in operations(openapi):
        for parameter in operation.parameters or []:
            if getattr(parameter, "name", None) == "X-Device-Clock":
                parameter.required = True


def mobile_router(settings: Settings) -> Router:
    """The phone's routes: technicians only, each request's clock reading at hand (E-CLOCK).

    The multipart routes sit in a router of their own, with a body limit that fits the largest image allowed
    (the app's default is 1 MiB).
    """
    upload_limit = settings.max_upload_bytes + MULTIPART_OVERHEAD
    uploads = Router(path="/", route_handlers=[UploadController], request_max_body_size=upload_limit)
    return Router(
        path="/v1/mobile",
        route_handlers=[*(fact_handler(route) for route in FACT_ROUTES), MobileController, uploads],
        guards=[allow("technician")],
        dependencies={"reading": Provide(provide_reading, sync_to_thread=False)},
        tags=["mobile"],
    )
