"""The OpenAPI document the phone app is built from: what the types cannot render, and rendering it byte-stable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from litestar import Litestar
from litestar.enums import ParamType
from litestar.openapi.spec import Example, OpenAPI, OpenAPIMediaType, OpenAPIResponse, Operation, Reference

from fieldsvc.errors import NotFound

SPEC_PATH = Path(__file__).resolve().parent.parent / "mobile_api_spec" / "openapi.json"


def render_openapi(app: Litestar) -> str:
    """Sorted keys and fixed separators, so the same app always renders the same bytes."""
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def operations(openapi: OpenAPI) -> Iterator[Operation]:
    for path in (openapi.paths or {}).values():
        yield from filter(None, (path.get, path.put, path.post, path.patch, path.delete))


def document_paths_matching_no_route(openapi: OpenAPI) -> None:
    """An id in a path that is not a UUID matches no route and is answered 404 `not_found`, not the operation's own
    404 code: each operation with path parameters lists it too (the phone's developers saw only `visit.not_found`)."""
    for operation in operations(openapi):
        if not any(getattr(parameter, "param_in", None) == ParamType.PATH for parameter in operation.parameters or []):
            continue
        example = Example(summary=NotFound.code, value={"code": NotFound.code, "message": NotFound.message})
        responses = operation.responses if operation.responses is not None else {}
        operation.responses = responses
        known = responses.get("404")
        if not isinstance(known, OpenAPIResponse) or known.content is None:
            body = OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ErrorBody"), examples={})
            known = responses["404"] = OpenAPIResponse(description="", content={"application/json": body})
        media = known.content["application/json"]
        examples = media.examples if media.examples is not None else {}
        media.examples = examples
        if any(getattr(known_example, "summary", None) == NotFound.code for known_example in examples.values()):
            continue  # amended before: the app's document is cached
        examples[f"errorbody-example-{len(examples) + 1}"] = example
        known.description = "; ".join(filter(None, (known.description, f"`{NotFound.code}`: {NotFound.message}")))
