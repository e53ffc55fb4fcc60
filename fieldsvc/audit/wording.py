"""Shared pieces of finding messages: site-local times, spans of time and rounded quantities."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

CHECKIN_KIND_ZH = {"arrival": "到达", "return": "返回", "checkout": "离开"}


def local_time(moment: datetime, time_zone: str) -> str:
    """Auditors read times as the site saw them (STANDARD: clock rules use the site's own zone), offset named.

    The offset keeps a message readable beside the evidence timeline, which is in UTC.
    """
    # isoformat is three times cheaper than strftime, and the arrival reason is written on every audit.
    shown = moment.astimezone(ZoneInfo(time_zone)).isoformat(" ", "seconds")
    return f"{shown[:19]} UTC{shown[19:]}"


def span(delta: timedelta) -> tuple[str, str]:
    """A span to the second in English and Chinese: at a deadline's edge, "8.0 h" against "8.0 h" explains nothing."""
    seconds = round(abs(delta.total_seconds()))
    sign = "-" if delta < timedelta(0) else ""
    whole_hours, rest = divmod(seconds, 3600)
    whole_minutes, whole_seconds = divmod(rest, 60)
    return (
        f"{sign}{whole_hours} h {whole_minutes:02d} min {whole_seconds:02d} s",
        f"{sign}{whole_hours}小时{whole_minutes:02d}分{whole_seconds:02d}秒",
    )


def minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 2)


def hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 4)
