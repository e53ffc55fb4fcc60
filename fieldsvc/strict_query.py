"""Query parameters are read as given: one the handler takes once, sent twice, is refused, not settled by the last."""

from __future__ import annotations

from litestar import Request
from litestar.exceptions import ValidationException


def refuse_repeated_query_parameters(request: Request) -> None:
    """400 for `?severity=violation&severity=warning` on a filter that takes one severity: answering for the last
    value alone showed an auditor no violations (a probe)."""
    query = request.query_params
    repeated = {name for name in query if len(query.getall(name)) > 1}
    if not repeated:
        return
    refused = [
        api_name
        for python_name, field in request.route_handler.parsed_fn_signature.parameters.items()
        if (api_name := getattr(field.kwarg_definition, "name", None) or python_name) in repeated
        and not field.is_non_string_collection
    ]
    if refused:
        raise ValidationException(extra=[
            {"key": name, "message": "Given more than once; give it once", "source": "query"} for name in sorted(refused)
        ])
