"""E-CLOCK: stamp each request with the server's time when its headers arrived, before its body is read."""

from __future__ import annotations

from litestar.types import ASGIApp, Receive, Scope, Send

from fieldsvc.context import AppContext

RECEIVED_AT = "received_at"


def receipt_stamp(ctx: AppContext):  # noqa: ANN201 - a Litestar middleware factory
    """A photo that takes 40 s to upload was sent when its upload began; the phone's clock header says so too."""

    def middleware_for(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                scope.setdefault("state", {})[RECEIVED_AT] = ctx.now()
            await app(scope, receive, send)

        return middleware

    return middleware_for
