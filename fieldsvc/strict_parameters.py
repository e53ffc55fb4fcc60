"""Query parameters and headers are read as given: one the handler takes once, sent twice, is refused; a NUL too."""

from __future__ import annotations

from collections import Counter

from litestar import Request
from litestar.enums import ParamType
from litestar.exceptions import ValidationException


# Headers read before any handler's parameters are: the bearer token (two would be a guess which one speaks).
READ_BY_MIDDLEWARE = ("Authorization",)


def refuse_repeated_parameters(request: Request) -> None:
    """400 for `?severity=violation&severity=warning` on a filter that takes one severity: answering for the last
    value alone showed an auditor no violations (a probe). The same for a header the handler takes once, such as
    `Idempotency-Key`: which of two keys made a retry safe is a guess (a probe)."""
    query = request.query_params
    repeated = {("query", name) for name in query if len(query.getall(name)) > 1}
    header_counts = Counter(name for name, _ in request.scope["headers"])  # ASGI header names are lower case
    repeated |= {("header", name.decode("latin-1")) for name, count in header_counts.items() if count > 1}
    if not repeated:
        return
    handler = request.route_handler
    # The handler's parameters, and its dependencies' (the phone's clock headers are read by one).
    signatures = [handler.parsed_fn_signature, *(
        provide.parsed_fn_signature for provide in handler.resolve_dependencies().values()
        if provide.parsed_fn_signature is not None
    )]
    refused = [("header", name) for name in READ_BY_MIDDLEWARE if ("header", name.lower()) in repeated]
    for python_name, field in ((n, f) for signature in signatures for n, f in signature.parameters.items()):
        definition = field.kwarg_definition
        name = getattr(definition, "name", None) or python_name
        header = getattr(definition, "param_type", None) == ParamType.HEADER
        source = "header" if header else "query"
        if (source, name.lower() if header else name) in repeated and not field.is_non_string_collection:
            refused.append((source, name))
    if refused:
        raise ValidationException(extra=[
            {"key": name, "message": "Given more than once; give it once", "source": source}
            for source, name in sorted(set(refused))
        ])


def refuse_nul_in_query(request: Request) -> None:
    """400 for a NUL in a query value: PostgreSQL cannot hold one and refused it, SQLite matched nothing (a probe)."""
    if b"%00" not in request.scope["query_string"]:
        return
    query = request.query_params
    named = sorted({name for name in query if any("\x00" in value for value in query.getall(name))})
    if named:
        raise ValidationException(extra=[
            {"key": name, "message": "Holds a NUL character, which no value here can", "source": "query"}
            for name in named
        ])
