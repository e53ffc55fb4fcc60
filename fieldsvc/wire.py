"""Shared wire-contract building blocks: camelCase structs that refuse unknown fields, and field types."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar.datastructures import ResponseHeader
from litestar.params import QueryParameter

from fieldsvc.errors import ValidationFailed
from fieldsvc.visible import VISIBLE_CHARACTER

# No real event lies outside these years, and near the ends of Python's calendar (years 1 and 9999) converting a
# local time to UTC, or adding a deadline to it, overflows.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
CALENDAR = f"within the years {FIRST_DAY.year} to {LAST_DAY.year}"
_EARLIEST = datetime.combine(FIRST_DAY, time(0), tzinfo=UTC)
_END = datetime.combine(LAST_DAY + timedelta(days=1), time(0), tzinfo=UTC)


def in_calendar(instant: datetime) -> bool:
    """Whether an aware instant lies within the years the service accepts (compared, never converted: no overflow)."""
    return _EARLIEST <= instant < _END


class Wire(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Base of every request and response body."""


class Incoming(Wire):
    """Base of every request body: it holds only values both databases can store and the service can compute with.

    Responses do not check: they carry what cameras wrote too (an EXIF date in 1850 is evidence, not an error).
    """

    def __post_init__(self) -> None:
        for name, value in zip(self.__struct_encode_fields__, msgspec.structs.astuple(self)):
            for item in value if isinstance(value, list) else (value,):
                _refuse_unstorable(name, item)


def _refuse_unstorable(name: str, value: Any) -> None:
    # msgspec reports a ValueError raised while decoding as a validation error of the body, so a 400.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"`{name}` contains a NUL character")  # PostgreSQL text cannot hold one
    if isinstance(value, datetime) and not in_calendar(value):
        raise ValueError(f"`{name}` must lie {CALENDAR}")


# What a fact nesting JSON deeper than Python recurses (whole_numbers_as_integers raises RecursionError) is told.
NESTED_TOO_DEEP = "The fact nests JSON deeper than any fact of this API."


def whole_numbers_as_integers(value: Any) -> Any:
    """JSON has one kind of number: 1234.0 is an integer to JSON Schema, and a client serialising a double sends it;
    a strict reading (a string is no number, a number no instant) takes it as the integer it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [whole_numbers_as_integers(item) for item in value]
    if isinstance(value, dict):
        return {key: whole_numbers_as_integers(item) for key, item in value.items()}
    return value


def within_calendar(day: date, parameter: str) -> date:
    """A date query parameter, refused (400) outside the years an instant may have (its local midnight must be one)."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationFailed(details=[{"field": parameter, "message": f"must lie {CALENDAR}", "source": "query"}])
    return day


Instant = Annotated[
    datetime, msgspec.Meta(tz=True, description=f"RFC 3339 instant with a UTC offset; in a request, {CALENDAR}")
]
# A-DECIDE: none (nothing to review), open (awaiting an auditor), confirmed, dismissed, or returned (to its technician)
ReviewState = Literal["none", "open", "confirmed", "dismissed", "returned"]
TOTAL_COUNT_HEADER = "X-Total-Count"  # on a paged list: how many its filters find in all, past this page
PageLimit = Annotated[int, QueryParameter(ge=1, le=500)]
PageOffset = Annotated[int, QueryParameter(ge=0, le=1_000_000)]


def total_count_header(what: str) -> list[ResponseHeader]:
    """A paged list's response header, documented: how many `what` its filters find in all."""
    return [ResponseHeader(
        name=TOTAL_COUNT_HEADER, description=f"how many {what} the filters find in all, past this page",
        documentation_only=True,
    )]
TodayByDefault = Annotated[
    date | None, QueryParameter(name="date", required=False, description=f"A local date, {CALENDAR}; today if absent")
]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Phone = Annotated[str, msgspec.Meta(min_length=3, max_length=32, pattern=r"^\+?[0-9][0-9 \-]{2,31}$")]
LongText = Annotated[str, msgspec.Meta(max_length=4000)]


def shown_text(max_length: int) -> Any:
    """Text a person must read, of at most `max_length` characters: blank or drawn as nothing, it says nothing."""
    meta = msgspec.Meta(
        min_length=1, max_length=max_length, pattern=VISIBLE_CHARACTER, description="not blank, nor drawn as nothing"
    )
    return Annotated[str, meta]


# A reason a person must give (a forced close, an override, an unresolved outcome): spaces alone say nothing.
Reason = shown_text(1000)
# A name people read (a customer, a technician on the service card, a team).
Name = shown_text(128)
