"""Shared wire-contract building blocks: camelCase structs that refuse unknown fields, and field types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec


class Wire(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Base of every request and response body."""


Instant = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 instant with a UTC offset")]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Phone = Annotated[str, msgspec.Meta(min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 \-]{2,31}$")]
LongText = Annotated[str, msgspec.Meta(max_length=4000)]
