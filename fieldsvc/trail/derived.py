"""A-TRAIL: what the service derived from a fact (a photo's EXIF and hashes, a check-in's distance) as one digest in
the fact's trail entry, so that a derived column edited behind the service's back is caught like the fact itself."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime
from typing import Any

import msgspec

from fieldsvc.trail.chain import canonical_json

# The columns of a photo row the audit reads (E-TIME, E-PLACE, E-EDIT, E-REUSE, V-SIGN) that the service derived.
PHOTO_COLUMNS = (
    "purpose", "sha256", "perceptual_hash", "fine_hash", "captured_at_utc", "captured_offset_known", "gps_latitude",
    "gps_longitude", "gps_distance_m", "camera_make", "camera_model", "software", "ink_coverage", "ink_print",
)
# Those digested only when set: the entries of photos stored before the column have no digest of them.
OPTIONAL_PHOTO_COLUMNS = ("gps_fixed_at",)
CHECKIN_COLUMNS = ("distance_m",)
# V-ASK: the customer's contact a follow-up copies from the order when the question is asked.
FOLLOW_UP_CONTACT_COLUMNS = ("customer_name", "customer_phone", "address")


CLOCK_COLUMNS = ("clock_offset_ms", "time_source", "device", "device_boot")


def clock_columns(timing: Any) -> dict[str, Any]:
    """E-CLOCK: what the service measured of the phone's clocks with a fact (an EventTiming, or a stored row)."""
    if isinstance(timing, dict):
        return {name: timing[name] for name in CLOCK_COLUMNS}
    return {"clock_offset_ms": timing.clock_offset_ms, "time_source": timing.source, "device": timing.device_id,
            "device_boot": timing.device_boot}


def optional_photo_columns(columns: dict[str, Any]) -> dict[str, Any]:
    """Those of OPTIONAL_PHOTO_COLUMNS that are set, of a photo row or of what ingest derived."""
    return {name: columns[name] for name in OPTIONAL_PHOTO_COLUMNS if columns.get(name) is not None}


def photo_columns(photo: dict[str, Any]) -> dict[str, Any]:
    """What the service derived of a stored photo row, as its fact's trail entry digested it."""
    return {**{name: photo[name] for name in PHOTO_COLUMNS}, **optional_photo_columns(photo)}


def answer_digest(answer: Any) -> str:
    """A fact's stored answer (JSON builtins, as written or as read back) as one digest: the audit reads some of it
    (a signature's expected summary digest)."""
    return hashlib.sha256(msgspec.json.encode(answer, order="sorted")).hexdigest()


def derived_digest(columns: dict[str, Any]) -> str:
    spelled = canonical_json({name: as_stored(value) for name, value in columns.items()})
    return hashlib.sha256(spelled.encode()).hexdigest()


def as_stored(value: Any) -> Any:
    """One spelling whichever database gave the value back: floats in single precision (the most a `Real` column
    keeps), instants in UTC."""
    if isinstance(value, float) and abs(value) < 3e38:  # beyond single precision, the value is kept as it is
        return struct.unpack("f", struct.pack("f", value))[0]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value
