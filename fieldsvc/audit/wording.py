"""Shared pieces of finding messages: site-local times and rounded quantities."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

CHECKIN_KIND_ZH = {"arrival": "到达", "return": "返回", "checkout": "离开"}


def local_time(moment: datetime, time_zone: str) -> str:
    """Auditors read times as the site saw them (STANDARD: clock rules use the site's own zone)."""
    # isoformat is three times cheaper than strftime, and the arrival reason is written on every audit.
    return moment.astimezone(ZoneInfo(time_zone)).isoformat(" ", "seconds")[:19]


def minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 2)


def hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)
