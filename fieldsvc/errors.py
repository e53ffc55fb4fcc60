"""API errors: one body shape with a stable machine code, handlers that map every failure to it."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example

from fieldsvc import db
from fieldsvc.observability import ERROR_CODE_STATE, request_id_of
from fieldsvc.visible import VISIBLE_CHARACTER

log = logging.getLogger("fieldsvc.errors")

RETRY_AFTER_SECONDS = 5
_JSON_TOO_DEEP = "while deserializing"  # msgspec's words when a body nests past the interpreter's recursion limit
_ECHO_LIMIT = 200  # characters of a refused value a validation message repeats back


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every non-2xx answer: `code` is stable for programs, `message` is for people."""

    code: str
    message: str
    details: Any = None


class ApiError(HTTPException):
    """Base of every error the service raises on purpose; subclasses fix status and code."""

    status_code = 400
    code = "bad_request"
    message = "The request cannot be processed."

    def __init__(self, message: str | None = None, *, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(detail=message or self.message, status_code=self.status_code, headers=headers)
        self.details = details

    def body(self) -> ErrorBody:
        return ErrorBody(code=self.code, message=self.detail, details=self.details)


def api_error(status: int, code: str, message: str) -> type[ApiError]:
    """Declare an error class: its status, stable code and default message in one line."""
    name = "".join(part.capitalize() for part in code.replace(".", "_").split("_")) + "Error"
    return type(name, (ApiError,), {"status_code": status, "code": code, "message": message})


ValidationFailed = api_error(400, "validation.failed", "The request body or parameters are invalid.")
MalformedBody = api_error(400, "request.malformed", "The request body is not valid JSON.")
NotAuthenticated = api_error(401, "auth.required", "Log in and send the token as 'Authorization: Bearer <token>'.")
TokenExpired = api_error(401, "auth.token_expired", "Your session has expired; log in again.")
TokenRevoked = api_error(401, "auth.token_revoked", "This token was logged out; log in again.")
Forbidden = api_error(403, "auth.forbidden", "Your role may not do this.")
NotFound = api_error(
    404, "not_found", "No such resource: check the path; its ids are UUIDs, such as 3f2b8c1e-5d4a-4e6f-9a7b-1c2d3e4f5a6b."
)
MethodNotAllowed = api_error(405, "method_not_allowed", "This method is not allowed on this path.")
Conflict = api_error(409, "conflict", "The request conflicts with stored data.")
BodyTooLarge = api_error(413, "request.too_large", "The request body is larger than this endpoint accepts.")
TooManyParts = api_error(
    400, "request.too_many_parts", "The multipart body has more parts, or longer part headers, than this endpoint takes."
)
Unavailable = api_error(503, "service.unavailable", "A dependency is unreachable; retry shortly.")
TrailUnsealed = api_error(
    503,
    "service.trail_unsealed",
    "This server records nothing for now: the audit trail's head is not sealed with its key (a server started with "
    "another key, or a trail changed behind the service's back). Nothing was recorded; retry shortly.",
)
InternalError = api_error(500, "internal", "Unexpected error; it has been logged.")

COMMON_ERRORS: tuple[type[ApiError], ...] = (ValidationFailed, NotAuthenticated, TokenExpired, TokenRevoked, Forbidden)
# What any request can be answered, whatever its route: a body that is not JSON or too large, an unexpected failure.
NotJson = api_error(
    415, "request.not_json", "The request body must be JSON, sent with the header Content-Type: application/json."
)
ANY_REQUEST_ERRORS: tuple[type[ApiError], ...] = (
    MalformedBody, NotJson, BodyTooLarge, Unavailable, TrailUnsealed, InternalError
)


def documented(*errors: type[ApiError], public: bool = False) -> dict[int, ResponseSpec]:
    """OpenAPI responses for a handler: the exact error body and each code it can carry."""
    by_status: dict[int, list[type[ApiError]]] = {}
    # Every operation reads or writes the database: any of them can answer 503 while a dependency is down.
    for error in (*(() if public else COMMON_ERRORS), ValidationFailed, *errors, *ANY_REQUEST_ERRORS):
        if error not in by_status.setdefault(error.status_code, []):
            by_status[error.status_code].append(error)
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            generate_examples=False,
            description="; ".join(f"`{e.code}`: {e.message}" for e in group),
            examples=[Example(summary=e.code, value={"code": e.code, "message": e.message, "details": None}) for e in group],
        )
        for status, group in sorted(by_status.items())
    }


def _respond(error: ApiError) -> Response[ErrorBody]:
    return Response(error.body(), status_code=error.status_code, headers=error.headers or None)


def _translate(request: Request, exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        return ValidationFailed(details=_readable_validation(exc.extra, _parameter_names(request)))
    if isinstance(exc, HTTPException) and isinstance(exc.__cause__, SerializationException):
        return MalformedBody(f"The request body is not valid JSON: {exc.detail}")
    if isinstance(exc, RecursionError) and _JSON_TOO_DEEP in str(exc):
        return MalformedBody("The request body nests JSON deeper than any request of this API.")
    if isinstance(exc, HTTPException):
        return _from_litestar_http(exc)
    if isinstance(exc, UnicodeDecodeError) and _raised_in(exc, _MULTIPART_PARSER):
        # Litestar decodes every part without a filename as text, and lets the error through.
        return MalformedBody("A form part without a filename must be UTF-8 text: send the picture as a file part.")
    if isinstance(exc, OverflowError) or db.is_refused_value_error(exc):
        # A request value beyond what Python's dates or the database can hold (a date near year 9999, a NUL in text,
        # an integer past 64 bits) is bad input; the warning keeps a computed value to blame from going unseen.
        log.warning("value out of range on %s %s: %s", request.method, request.url.path, exc, extra=log_fields(request))
        return ValidationFailed("A value in the request is out of range or cannot be stored (e.g. a NUL character).")
    if db.is_integrity_error(exc):
        return Conflict("The request conflicts with stored data (a unique or reference rule).")
    if db.is_unavailable_error(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc, extra=log_fields(request))
        # The database is up and chose this request to end a conflict with another: say so, not "unreachable".
        contention = "Another request held what this one needed; nothing was recorded: retry shortly."
        message = contention if db.is_contention_error(exc) else None
        return Unavailable(message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc, extra=log_fields(request))
    return InternalError()


def log_fields(request: Request) -> dict[str, str]:
    """The request id for a log line: errors raised in middleware (auth) arrive after the request's context ended."""
    return {"request_id": request_id_of(request.scope)}


# Litestar 2 answers a multipart body past its part limit (or the parser's header limits) with a 400 of this wording.
_MULTIPART_LIMIT_DETAIL = "Request Entity Too Large"


_MULTIPART_PARSER = "litestar/_multipart.py"


def _raised_in(exc: BaseException, module_path: str) -> bool:
    """Whether the innermost frame of the exception's traceback runs code of that file."""
    frame = exc.__traceback__
    if frame is None:
        return False
    while frame.tb_next is not None:
        frame = frame.tb_next
    return frame.tb_frame.f_code.co_filename.replace("\\", "/").endswith(module_path)


def _from_litestar_http(exc: HTTPException) -> ApiError:
    status = exc.status_code
    known = {401: NotAuthenticated, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed, 413: BodyTooLarge}
    if status in known:
        error = known[status]()
    elif status == 400 and exc.detail == _MULTIPART_LIMIT_DETAIL:
        error = TooManyParts()
    elif status == 503:
        error = Unavailable(headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    elif status == 400:  # a malformed multipart body, in Litestar's words
        error = MalformedBody(str(exc.detail))
    else:
        # Litestar's own other 4xx (an unsupported content type, say): keep its words under a stable code.
        error = ApiError(str(exc.detail))
        error.status_code = status if 400 <= status < 500 else 400
    if exc.headers:
        error.headers = {**(error.headers or {}), **exc.headers}
    return error


def _parameter_names(request: Request) -> dict[str, str]:
    """The names the API gives the handler's parameters where they differ from Python's (Litestar reserves some,
    such as `state`), by Python name."""
    handler = request.scope.get("route_handler")
    if handler is None:
        return {}
    return {
        python_name: api_name
        for python_name, field in handler.parsed_fn_signature.parameters.items()
        if (api_name := getattr(field.kwarg_definition, "name", None))
    }


def _readable_validation(extra: list[Any], parameter_names: dict[str, str]) -> list[dict[str, str]]:
    return [_readable_item(item, parameter_names) for item in extra if isinstance(item, dict)]


def _readable_item(item: dict[str, Any], parameter_names: dict[str, str]) -> dict[str, str]:
    field, message = str(item.get("key", "")), str(item.get("message", ""))
    if field == "data" and message == "'data'":
        message = "A JSON request body is required."
    message, _, path = message.partition(" - at `$.")
    if path:  # msgspec names nested fields by a JSON path: report it as the field
        field = path.rstrip("`")
    elif field != "data":  # a query or path parameter, named in Python: give the name the API uses
        field = parameter_names.get(field) or _camel(field)
    source = item.get("source", "body")
    source = getattr(source, "value", source)  # Litestar gives query parameters' source as an enum member
    message = message.replace(_BLANK_REFUSED, "Expected text that is not blank")
    if message.startswith(_REPEATED_PART):  # Litestar's words for a form part sent twice, gathered into a list
        message = "Sent more than once; send each part of the form once"
    return {"field": field, "message": echo_limited(message), "source": str(source)}


def readable_refusal(invalid: msgspec.ValidationError) -> tuple[str, str]:
    """The field msgspec refused (as the API names it) and why, in the words a validation.failed answer gives."""
    item = _readable_item({"message": str(invalid)}, {})
    return item["field"], item["message"]


def echo_limited(message: str) -> str:
    """A validation message cut to a readable length: msgspec repeats a refused value whole, and a megabyte of it helps
    nobody."""
    return message if len(message) <= _ECHO_LIMIT else message[:_ECHO_LIMIT] + "..."


_REPEATED_PART = "Unsupported type: <class 'list'>"
_BLANK_REFUSED = f"Expected `str` matching regex {VISIBLE_CHARACTER!r}"  # msgspec's words for the `Reason` pattern


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def handle_exception(request: Request, exc: Exception) -> Response[ErrorBody]:
    error = _translate(request, exc)
    request.scope.setdefault("state", {})[ERROR_CODE_STATE] = error.code  # for the request's access line
    return _respond(error)


EXCEPTION_HANDLERS = {Exception: handle_exception}
