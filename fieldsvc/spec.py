"""Rendering the OpenAPI document the phone app is built from, byte-stable for committing."""

from __future__ import annotations

import json
from pathlib import Path

from litestar import Litestar

SPEC_PATH = Path(__file__).resolve().parent.parent / "mobile_api_spec" / "openapi.json"


def render_openapi(app: Litestar) -> str:
    """Sorted keys and fixed separators, so the same app always renders the same bytes."""
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
