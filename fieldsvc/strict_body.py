"""JSON request bodies are read as strictly as the spec types them: a string is no number, nor a number an instant."""

from __future__ import annotations

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.params import BodyKwarg

from fieldsvc.errors import MalformedBody, NotJson
from fieldsvc.wire import whole_numbers_as_integers


async def read_json_body_strictly(request: Request) -> None:
    """Refuse (400) a JSON body the handler's lax conversion would have coerced: `"12.5"` for a number, `1` for true,
    `1765000000` for an instant. The batch sync reads each fact strictly, so a fact must not pass alone and fail there.
    """
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is None or not isinstance(data.kwarg_definition, BodyKwarg):
        return
    if data.kwarg_definition.media_type != RequestEncodingType.JSON:
        return
    body = await request.body()
    if not body:
        return  # the handler's own reading says a body is required
    media_type = request.content_type[0].lower()
    # A body labelled as something else was not meant as JSON (and a browser posts text/plain across sites unasked).
    if media_type != "application/json" and not (media_type.startswith("application/") and media_type.endswith("+json")):
        raise NotJson()
    try:
        msgspec.json.decode(body, type=data.annotation, strict=True)
        return  # the usual body, read in one typed pass
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        pass  # read again below, to tell a whole number written 1234.0 and a body that is not JSON from a wrong one
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return  # not JSON: the handler's own reading answers `request.malformed`
    try:
        msgspec.convert(whole_numbers_as_integers(value), type=data.annotation, strict=True)
    except RecursionError:
        raise MalformedBody("The request body nests JSON deeper than any request of this API.") from None
    except msgspec.ValidationError as refused:
        raise ValidationException(extra=[{"key": "data", "message": str(refused), "source": "body"}]) from refused

