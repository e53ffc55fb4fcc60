"""Structured JSON logs with a request id on every line, and the middleware that assigns it."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
access_log = logging.getLogger("fieldsvc.access")
ERROR_CODE_STATE = "error_code"  # where a request's error code waits for its access line (scope state)
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A signed photo link is a credential while it lasts: the access log names the route, not the token.
_SIGNED_LINK = re.compile(r"^(/v1/blobs/)[^/]+")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):  # the access line names its request itself
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, so log shippers need no parsing rules."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", request_id_var.get()),
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(level: str) -> dict[str, Any]:
    """A dictConfig for the service and uvicorn alike (uvicorn applies it in every worker)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "httpx": {"level": "WARNING"},
            # At DEBUG, botocore logs each request's signature, with what rebuilds a photo link handed to an auditor,
            # and aiosqlite each statement with its parameters, password hashes among them (probes): the service's
            # own DEBUG lines are what an operator turns DEBUG on for.
            **{name: {"level": "INFO" if level.upper() == "DEBUG" else level.upper()}
               for name in ("botocore", "boto3", "s3transfer", "urllib3", "aiosqlite")},
        },
    }


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Take the caller's X-Request-Id (if sane) or make one, for every log line of this request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        token = request_id_var.set(request_id_of(scope))
        try:
            await app(scope, receive, send)
        finally:
            request_id_var.reset(token)

    return middleware


def request_id_of(scope: Scope) -> str:
    """The request's id, chosen once: the caller's X-Request-Id if sane, else a new one."""
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        state["request_id"] = incoming if SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state["started"] = time.perf_counter()
    return state["request_id"]


async def stamp_response(message: Message, scope: Scope) -> None:
    """before_send hook: it also sees answers made outside any route (401 from auth, 404 for unknown paths)."""
    if message["type"] != "http.response.start":
        return
    request_id, state = request_id_of(scope), scope["state"]
    message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
    status = message["status"]
    fields: dict[str, Any] = {"status": status, "ms": round((time.perf_counter() - state["started"]) * 1000, 1)}
    caller = scope.get("user")
    if caller is not None:  # who asked, by account (never by token)
        fields["user"], fields["role"] = str(caller.user_id), caller.role
    if state.get(ERROR_CODE_STATE):
        fields["code"] = state[ERROR_CODE_STATE]
    access_log.info(
        "%s %s %s",
        scope.get("method"),
        _SIGNED_LINK.sub(r"\1<token>", scope.get("path") or ""),
        status,
        extra={"request_id": request_id, "fields": fields},
    )
