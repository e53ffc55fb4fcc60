"""E-MOCK's reach when a located fact arrives: the stretches of time within the neighbour window of each fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fieldsvc.verdicts.service import merged_windows

REACH = timedelta(hours=12)
MORNING = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_fixes_within_a_day_of_each_other_share_one_stretch():
    later = MORNING + timedelta(hours=20)
    assert merged_windows([later, MORNING], REACH) == [(MORNING - REACH, later + REACH)]


def test_fixes_days_apart_reach_only_the_hours_around_each_of_them():
    days_later = MORNING + timedelta(days=3)
    assert merged_windows([MORNING, days_later], REACH) == [
        (MORNING - REACH, MORNING + REACH),
        (days_later - REACH, days_later + REACH),
    ]
