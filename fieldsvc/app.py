"""The Litestar application factory: wiring only, no I/O at import or construction time."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from litestar import Litestar, Request
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from piccolo.engine.base import Engine

from fieldsvc import db
from fieldsvc.auth.caller import provide_caller
from fieldsvc.auth.controller import AuthController
from fieldsvc.auth.middleware import bearer_auth
from fieldsvc.config import Settings
from fieldsvc.context import AppContext
from fieldsvc.errors import EXCEPTION_HANDLERS
from fieldsvc.dispatch.controller import DispatchController
from fieldsvc.evidence.controller import EvidenceController
from fieldsvc.followups.controller import FollowUpController
from fieldsvc.health import HealthController
from fieldsvc.mobile.controller import complete_mobile_spec, mobile_router
from fieldsvc.mobile.receipt import receipt_stamp
from fieldsvc.observability import request_id_middleware, stamp_response
from fieldsvc.review.controller import ReviewController
from fieldsvc.strict_body import read_json_body_strictly
from fieldsvc.strict_parameters import refuse_nul_in_query, refuse_repeated_parameters
from fieldsvc.technician.controller import MyVisitsController
from fieldsvc.trail.guard import refuse_unvouched, watching_trail
from fieldsvc.verdicts.worker import run_auditor
from fieldsvc.people.controller import PeopleController
from fieldsvc.spec import document_paths_matching_no_route

API_VERSION = "1.0.0"
JSON_BODY_LIMIT = 1024 * 1024


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="fieldsvc",
        version=API_VERSION,
        description="Booking, technicians' phones and the visit audit. Errors carry a stable `code`.",
        components=Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", description="POST /v1/auth/login")}
        ),
        security=[{"bearer": []}],
        use_handler_docstrings=True,
        create_examples=False,
    )


async def read_strictly(request: Request) -> None:
    """Refuse before the handler what its lax reading would settle by guessing: a parameter given twice, a NUL in a
    query value (each engine guessed differently), a JSON value of the wrong type that would be coerced."""
    refuse_repeated_parameters(request)
    refuse_nul_in_query(request)
    await read_json_body_strictly(request)


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> Litestar:
    """The service. `engine`: one already opened by the caller and shared with another app of this process (tests);
    this app then binds and uses it but leaves opening and closing it to the caller. Two engines on one database
    in one process would not do: Piccolo binds its tables to one engine, and a transaction begun on the other would
    run its queries outside itself (on SQLite, waiting for its own write lock)."""
    owns_database = engine is None
    ctx = AppContext.from_settings(settings or Settings.from_env(), engine)

    def provide_ctx() -> AppContext:
        return ctx

    async def before_request(request: Request) -> None:
        refuse_unvouched(request, ctx)
        await read_strictly(request)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db.bind_engine(ctx.engine)
        if owns_database:
            # Started by an ASGI server directly (`fieldsvc serve` migrates first): on a database the migrations have
            # not reached, it answered every request with a 500 and called itself ready (a probe).
            db.require_database_file(ctx.engine)
            await db.open_database(ctx.engine)
            try:
                await db.require_migrated()
            except BaseException:
                await db.close_database(ctx.engine)
                raise
        # `fieldsvc serve` tells its HTTP workers `external` when it runs the auditor in a process of its own; an app
        # made any other way (tests, another ASGI server) audits in the background unless told so.
        inline = ctx.settings.auditor != "external"
        auditor = asyncio.create_task(run_auditor(ctx), name="fieldsvc-auditor") if inline else None
        trail_watch = await watching_trail(ctx)  # before the first request: with the wrong key it records nothing
        try:
            yield
        finally:
            for task in (auditor, trail_watch):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if owns_database:
                await db.close_database(ctx.engine)

    app = Litestar(
        route_handlers=[
            HealthController,
            AuthController,
            PeopleController,
            DispatchController,
            MyVisitsController,
            ReviewController,
            FollowUpController,
            mobile_router(ctx.settings),
            EvidenceController,
        ],
        dependencies={
            "ctx": Provide(provide_ctx, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=False),
        },
        middleware=[request_id_middleware, receipt_stamp(ctx), bearer_auth()],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=before_request,
        before_send=[stamp_response],
        lifespan=[lifespan],
        openapi_config=openapi_config(),
        request_max_body_size=JSON_BODY_LIMIT,
        logging_config=None,  # logging is configured once by the process (fieldsvc.observability), not per app
        debug=False,
    )
    app.state.ctx = ctx
    complete_mobile_spec(app.openapi_schema)
    document_paths_matching_no_route(app.openapi_schema)
    return app
