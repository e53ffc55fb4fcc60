"""Settings read from FIELDSVC_* environment variables: the one place configuration lives."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


AUDITOR_PLACES = ("auto", "process", "inline", "external")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
WEEK_SECONDS = 7 * 24 * 3600  # the longest an S3 presigned link may live
# The least each number may be, whether it must be more than that, and the most it may be. Unchecked, a travel speed
# of 0 divided by zero at every assignment, a negative token lifetime handed out tokens expired at login, 0 login
# failures locked an account at its first wrong password, a lockout of 0 minutes let guesses run unthrottled, and a
# token lifetime past the calendar made every login a 500 (probes).
NUMBER_RANGES: dict[str, tuple[float, bool, float]] = {
    "token_ttl_minutes": (1, False, 366 * 24 * 60),
    "token_memory_seconds": (0, False, 3600),
    "login_max_failures": (1, False, 1000),
    "login_lockout_minutes": (1, False, 366 * 24 * 60),
    "travel_speed_kmh": (0, True, 1000),
    "at_risk_horizon_minutes": (0, False, 366 * 24 * 60),
    "deadline_sweep_minutes": (0, True, 24 * 60),
    "trail_check_seconds": (0, True, 24 * 3600),
    "clock_transit_allowance_seconds": (0, False, 3600),
    "max_upload_bytes": (1, False, 2**40),
    "max_image_pixels": (1, False, 2**40),
    "evidence_url_ttl_seconds": (1, False, WEEK_SECONDS),
    "upload_url_ttl_seconds": (1, False, WEEK_SECONDS),
    "max_restore_promise_days": (1, False, 366),
}


class SettingsError(ValueError):
    """A FIELDSVC_* variable has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told from outside; defaults run the embedded setup."""

    data_dir: Path = Path("data")
    database_url: str = ""  # empty means SQLite at <data_dir>/fieldsvc.sqlite
    secret_key: str = ""  # empty means a random key kept in <data_dir>/secret_key
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # Where `fieldsvc serve` re-audits visits and chains the trail (A-REAUDIT, A-TRAIL): `process` (one auditor
    # process beside the HTTP workers), `inline` (a background task in each HTTP worker), `external` (neither: run
    # `fieldsvc audit work` elsewhere), `auto` (process on PostgreSQL; inline on SQLite, whose one writer it shares).
    auditor: str = "auto"

    blob_backend: str = "local"  # local | s3
    s3_bucket: str = "fieldsvc-evidence"
    s3_region: str = "us-east-1"
    s3_endpoint_url: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""

    default_time_zone: str = "Asia/Shanghai"
    token_ttl_minutes: int = 720
    token_memory_seconds: float = 5.0  # how long a process trusts a resolved token before looking it up again
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    quiet_hours_start: int = 20  # B-QUIET: no visit may start from this site-local hour ...
    quiet_hours_end: int = 8  # ... until this one
    travel_speed_kmh: float = 30.0  # B-ASSIGN
    at_risk_horizon_minutes: int = 120
    deadline_sweep_minutes: float = 5.0  # A-REAUDIT of repairs and questions whose deadline passed unnoticed
    trail_check_seconds: float = 5.0  # A-TRAIL: how often a server checks that its key sealed the trail's head
    clock_transit_allowance_seconds: float = 2.0  # E-CLOCK: a measured offset this small is the request in flight
    max_upload_bytes: int = 15 * 1024 * 1024  # E-IMAGE
    max_image_pixels: int = 40_000_000  # E-IMAGE
    evidence_url_ttl_seconds: int = 300
    service_hotline: str = "10000"  # V-CARD
    seasonal_leaflet: str = "Winter care: keep your router ventilated and away from heaters."
    upload_url_ttl_seconds: int = 900  # E-IMAGE: how long a presigned photo upload URL stays valid
    # V-LEAVE: the latest restore-by a technician leaving for good may promise: one years ahead could never be broken.
    max_restore_promise_days: int = 7

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for spec in fields(cls):
            raw = environ.get(f"FIELDSVC_{spec.name.upper()}")
            if raw is not None:
                values[spec.name] = _parse(spec.name, spec.type, raw)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        try:
            ZoneInfo(self.default_time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError) as error:
            raise SettingsError(f"FIELDSVC_DEFAULT_TIME_ZONE: unknown zone {self.default_time_zone!r}") from error
        if self.auditor not in AUDITOR_PLACES:
            raise SettingsError(f"FIELDSVC_AUDITOR must be one of {', '.join(AUDITOR_PLACES)}")
        if self.blob_backend not in ("local", "s3"):
            raise SettingsError("FIELDSVC_BLOB_BACKEND must be 'local' or 's3'")
        if not (0 <= self.quiet_hours_end < 24 and 0 <= self.quiet_hours_start < 24):
            raise SettingsError("quiet hours must be whole hours from 0 to 23")
        for name, (floor, strictly, ceiling) in NUMBER_RANGES.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and (value > floor if strictly else value >= floor) and value <= ceiling):
                least = f"more than {floor}" if strictly else f"from {floor}"
                raise SettingsError(f"FIELDSVC_{name.upper()} must be a number {least} to {ceiling}, not {value!r}")
        if self.database_url and not _is_database_url(self.database_url):
            raise SettingsError(
                "FIELDSVC_DATABASE_URL must be sqlite:///PATH or postgresql://[USER@]HOST[:PORT]/DATABASE, with a port "
                "that is a number"
            )
        if self.secret_key and not self.secret_key.strip():
            raise SettingsError(
                "FIELDSVC_SECRET_KEY is blank: set a key (it signs evidence links and seals the audit trail), or unset "
                "it to have one generated into the data directory"
            )
        if self.log_level.upper() not in LOG_LEVELS:
            raise SettingsError(f"FIELDSVC_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if not 1 <= self.port <= 65535:
            raise SettingsError(f"FIELDSVC_PORT must be a port number from 1 to 65535, not {self.port}")
        if self.s3_endpoint_url and not _is_http_url(self.s3_endpoint_url):
            raise SettingsError(
                f"FIELDSVC_S3_ENDPOINT_URL must be an http:// or https:// URL with a host, not {self.s3_endpoint_url!r}"
            )

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir) / 'fieldsvc.sqlite'}"

    @property
    def auditor_place(self) -> str:
        """`auto` resolved: process, inline or external."""
        if self.auditor != "auto":
            return self.auditor
        return "inline" if self.effective_database_url.startswith("sqlite") else "process"

    @property
    def blob_dir(self) -> Path:
        return Path(self.data_dir) / "blobs"


def _is_database_url(text: str) -> bool:
    if text.startswith("sqlite:///"):
        return len(text) > len("sqlite:///")
    try:
        parts = urlsplit(text)
        if "," not in parts.netloc:  # several hosts (failover) are libpq's to read
            parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        return False
    return parts.scheme in ("postgresql", "postgres")


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _parse(name: str, annotation: object, raw: str) -> object:
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "str")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError as error:
        raise SettingsError(f"FIELDSVC_{name.upper()}: {raw!r} is not a valid {kind}") from error
    return raw
