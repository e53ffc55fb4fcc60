"""E-CLOCK: correcting a fact's device time by the phone's monotonic clock, or by the offset measured at sync."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fieldsvc.config import Settings
from fieldsvc.mobile.service import boots_a_completion_may_be_of
from fieldsvc.mobile.clock import (
    ClockReading,
    by_its_counted_boot,
    by_the_boot_it_names,
    contradiction,
    event_timing,
    parse_device_wall,
    parse_elapsed_ms,
    without_slow_sends,
)

RECEIVED = datetime(2030, 3, 4, 2, 0, tzinfo=UTC)  # the server's clock when the sync arrived
TRANSIT_ALLOWANCE = timedelta(seconds=Settings().clock_transit_allowance_seconds)  # the default, 2 s
SLOW = timedelta(minutes=30)  # the phone's wall clock is set 30 minutes back
TRUTH = RECEIVED - timedelta(minutes=12)  # when the fact really happened


def phone_reading(device_wall: datetime, elapsed_at_send: int | None) -> ClockReading:
    """What a sync arriving at RECEIVED says of the phone's clocks, with the default transit allowance."""
    return ClockReading(RECEIVED, device_wall, elapsed_at_send, TRANSIT_ALLOWANCE)


def slow_phone(elapsed_at_send: int | None) -> ClockReading:
    return phone_reading(RECEIVED - SLOW, elapsed_at_send)


def test_e_clock_offset_is_server_receipt_minus_device_clock():
    assert slow_phone(None).offset == SLOW


def test_e_clock_slow_phone_without_monotonic_time_lands_on_the_truth_by_offset():
    timing = event_timing(slow_phone(None), TRUTH - SLOW, None)

    assert timing.corrected_time == TRUTH
    assert timing.source == "offset"
    assert timing.clock_offset_ms == 30 * 60 * 1000
    assert timing.device_time == TRUTH - SLOW


def test_e_clock_monotonic_time_wins_even_when_the_wall_clock_jumped_after_the_fact():
    # The fact was stamped with a wall clock 2 h off; the phone fixed its clock before syncing.
    stamped = TRUTH + timedelta(hours=2)
    elapsed_at_send = 5_000_000
    reading = phone_reading(RECEIVED, elapsed_at_send)

    timing = event_timing(reading, stamped, elapsed_at_send - 12 * 60 * 1000)

    assert timing.corrected_time == TRUTH
    assert timing.source == "elapsed"
    assert timing.clock_offset_ms == 0


def test_e_clock_slow_phone_with_monotonic_time_lands_on_the_truth():
    timing = event_timing(slow_phone(900_000), TRUTH - SLOW, 900_000 - 12 * 60 * 1000)

    assert timing.corrected_time == TRUTH
    assert timing.source == "elapsed"


def test_e_clock_monotonic_time_from_before_a_reboot_falls_back_to_the_offset():
    # After a reboot the monotonic clock restarts, so the fact looks later than the send: it cannot be used.
    timing = event_timing(slow_phone(1_000), TRUTH - SLOW, 5_000_000)

    assert timing.source == "offset"
    assert timing.corrected_time == TRUTH


def test_e_clock_a_fact_from_before_a_restart_synced_after_more_uptime_than_it_had_is_read_by_its_wall_clock():
    # On for 35 min at the fact; restarted 10 min later; synced 2 h after the restart.
    happened = RECEIVED - timedelta(hours=2, minutes=10)
    reading = slow_phone(2 * 3600 * 1000)

    timing = event_timing(reading, happened - SLOW, 35 * 60 * 1000)

    assert (timing.corrected_time, timing.source) == (happened, "offset")


def test_e_clock_a_fact_35_seconds_before_a_restart_is_read_by_its_wall_clock_not_the_new_boots():
    # On for 20 min at the arrival; crashed and restarted 35 s later; synced 40 min after the restart.
    happened = RECEIVED - timedelta(minutes=40, seconds=35)
    reading = phone_reading(RECEIVED, 40 * 60 * 1000)

    timing = event_timing(reading, happened, 20 * 60 * 1000)

    assert (timing.corrected_time, timing.source) == (happened, "offset")


def test_e_clock_a_fact_of_the_boot_it_was_sent_in_by_the_phones_count_is_read_by_the_monotonic_clock() -> None:
    # Restarted 15 min before the sync; the fact 12 min before it, its wall clock set back to before the restart.
    reading = replace(phone_reading(RECEIVED, 15 * 60 * 1000), device_boot=8)

    timing = event_timing(reading, TRUTH - timedelta(minutes=40), 3 * 60 * 1000, device_boot=8)

    assert (timing.corrected_time, timing.source, timing.device_boot) == (TRUTH, "elapsed", 8)


def test_e_clock_a_fact_naming_a_later_boot_than_the_one_it_was_sent_in_is_a_contradiction() -> None:
    reading = replace(phone_reading(RECEIVED, 15 * 60 * 1000), device_boot=8)

    assert "later boot" in contradiction(reading, 3 * 60 * 1000, device_boot=9)


def test_e_clock_a_fact_further_into_the_boot_it_was_sent_in_than_the_send_is_a_contradiction() -> None:
    reading = replace(phone_reading(RECEIVED, 15 * 60 * 1000), device_boot=8)

    assert "later in boot 8" in contradiction(reading, 15 * 60 * 1000 + 1_001, device_boot=8)


def test_e_clock_a_fact_within_a_second_of_the_sends_monotonic_reading_is_no_contradiction() -> None:
    reading = replace(phone_reading(RECEIVED, 15 * 60 * 1000), device_boot=8)

    assert contradiction(reading, 15 * 60 * 1000 + 1_000, device_boot=8) is None


def test_e_clock_a_fact_of_an_earlier_boot_with_more_uptime_than_the_send_is_no_contradiction() -> None:
    reading = replace(phone_reading(RECEIVED, 60_000), device_boot=8)

    assert contradiction(reading, 3 * 3600 * 1000, device_boot=7) is None


def test_e_clock_a_fact_of_an_earlier_boot_by_the_phones_count_is_read_by_its_wall_clock() -> None:
    # Crashed 5 s after the fact and restarted at once: its wall clock lies within the new boot's first seconds.
    happened = RECEIVED - timedelta(minutes=40)
    reading = replace(phone_reading(RECEIVED, 40 * 60 * 1000 - 5_000), device_boot=9)

    timing = event_timing(reading, happened, 20 * 60 * 1000, device_boot=8)

    assert (timing.corrected_time, timing.source) == (happened, "offset")


def test_e_clock_a_wall_clock_set_back_for_a_fact_and_restored_before_the_sync_is_read_by_the_monotonic_clock():
    # Booted hours before; the fact stamped 25 min early by a clock set back, then put right before the sync.
    reading = phone_reading(RECEIVED, 5 * 3600 * 1000)

    timing = event_timing(reading, TRUTH - timedelta(minutes=25), 5 * 3600 * 1000 - 12 * 60 * 1000)

    assert (timing.corrected_time, timing.source) == (TRUTH, "elapsed")


def test_e_clock_a_fact_never_lands_after_the_server_received_it():
    timing = event_timing(slow_phone(None), RECEIVED + timedelta(hours=1), None)

    assert timing.corrected_time == RECEIVED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-03-04T09:30:00+08:00", datetime(2030, 3, 4, 1, 30, tzinfo=UTC)),
        ("2030-03-04T01:30:00Z", datetime(2030, 3, 4, 1, 30, tzinfo=UTC)),
        (" 2030-03-04T01:30:00.250-02:00 ", datetime(2030, 3, 4, 3, 30, 0, 250000, tzinfo=UTC)),
        ("2030-03-04t01:30:00z", datetime(2030, 3, 4, 1, 30, tzinfo=UTC)),  # RFC 3339 allows lower case T and Z
    ],
)
def test_e_clock_device_wall_clock_is_an_rfc3339_instant(text, expected):
    parsed = parse_device_wall(text)
    assert parsed == expected
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize("text", ["2030-03-04T01:30:00", "yesterday", "", "1712345678"])
def test_e_clock_device_wall_clock_without_an_offset_is_refused(text):
    with pytest.raises(ValueError):
        parse_device_wall(text)


def test_e_clock_elapsed_header_is_whole_non_negative_milliseconds():
    assert parse_elapsed_ms("123456") == 123456
    for bad in ("-1", "1.5", "soon"):
        with pytest.raises(ValueError):
            parse_elapsed_ms(bad)


def test_e_clock_keeps_the_offset_of_a_phone_in_another_zone_at_zero_when_its_clock_is_right():
    shanghai_wall = RECEIVED.astimezone(timezone(timedelta(hours=8)))
    reading = phone_reading(shanghai_wall, None)

    assert event_timing(reading, TRUTH.astimezone(timezone(timedelta(hours=8))), None).corrected_time == TRUTH
    assert reading.offset == timedelta(0)


def test_e_clock_an_offset_within_the_transit_allowance_is_the_request_in_flight_not_skew():
    in_flight = phone_reading(RECEIVED - TRANSIT_ALLOWANCE, None)

    timing = event_timing(in_flight, TRUTH, None)

    assert (timing.corrected_time, timing.clock_offset_ms) == (TRUTH, 0)


def test_e_clock_an_offset_just_beyond_the_transit_allowance_corrects_the_time():
    skew = TRANSIT_ALLOWANCE + timedelta(seconds=1)
    reading = phone_reading(RECEIVED - skew, None)

    timing = event_timing(reading, TRUTH - skew, None)

    assert (timing.corrected_time, timing.clock_offset_ms) == (TRUTH, skew // timedelta(milliseconds=1))


IN_FLIGHT = timedelta(milliseconds=2)  # how long the request took to reach the server


def test_e_clock_a_slow_phone_s_offset_leaves_out_the_request_s_moment_in_flight():
    skew = timedelta(minutes=3)
    reading = phone_reading(RECEIVED - IN_FLIGHT - skew, None)  # the phone read its clock, then sent

    timing = event_timing(reading, TRUTH - skew, None)

    assert (timing.corrected_time, timing.clock_offset_ms) == (TRUTH, 180_000)


def test_e_clock_a_fast_phone_s_offset_leaves_out_the_request_s_moment_in_flight():
    skew = timedelta(minutes=2, seconds=30)
    reading = phone_reading(RECEIVED - IN_FLIGHT + skew, None)

    timing = event_timing(reading, TRUTH + skew, None)

    assert (timing.corrected_time, timing.clock_offset_ms) == (TRUTH, -150_000)


def test_e_clock_a_fast_phone_with_monotonic_time_lands_on_the_truth_not_the_moment_in_flight_before_it():
    skew = timedelta(minutes=2, seconds=30)
    reading = phone_reading(RECEIVED - IN_FLIGHT + skew, 900_000)

    timing = event_timing(reading, TRUTH + skew, 900_000 - 12 * 60 * 1000)

    assert (timing.corrected_time, timing.source) == (TRUTH, "elapsed")


def test_e_clock_monotonic_time_within_the_transit_allowance_counts_from_the_phones_own_send_time():
    reading = phone_reading(RECEIVED - timedelta(milliseconds=300), 60_000)

    timing = event_timing(reading, RECEIVED - timedelta(minutes=1, seconds=5), 0)

    assert timing.corrected_time == RECEIVED - timedelta(milliseconds=300) - timedelta(minutes=1)


def _mark(booted: datetime, elapsed_min: float, source: str = "offset", fix_off_s: float | None = 0.0) -> dict:
    corrected = booted + timedelta(minutes=elapsed_min)
    fix = None if fix_off_s is None else corrected + timedelta(seconds=fix_off_s)
    return {"corrected_time": corrected, "device_elapsed_ms": round(elapsed_min * 60_000), "time_source": source,
            "fix_time": fix}


BOOT_A = datetime(2030, 3, 4, 1, 0, tzinfo=UTC)
WITHIN = timedelta(minutes=2)


def test_b_repair_a_boot_a_check_ins_satellite_fix_bears_out_may_hold_a_completion_after_its_facts() -> None:
    marks = [_mark(BOOT_A, 40), _mark(BOOT_A, 90, fix_off_s=None)]

    assert boots_a_completion_may_be_of(marks, 95 * 60_000, WITHIN) == [BOOT_A]


def test_b_repair_a_boot_whose_facts_were_further_into_it_than_the_completion_cannot_hold_it() -> None:
    marks = [_mark(BOOT_A, 40), _mark(BOOT_A, 104, fix_off_s=None)]

    assert boots_a_completion_may_be_of(marks, 34 * 60_000, WITHIN) == []


def test_b_repair_a_boot_only_the_wall_clock_tells_is_no_witness_but_the_one_the_satellites_tell_is() -> None:
    marks = [_mark(BOOT_A, 40, fix_off_s=1800.0)]  # the fix 30 min after the clock: the clock was set back

    assert boots_a_completion_may_be_of(marks, 95 * 60_000, WITHIN) == [BOOT_A + timedelta(minutes=30)]


def test_e_clock_a_monotonic_time_a_few_milliseconds_off_the_wall_clock_leaves_the_facts_own_time():
    """The phone read its clocks a moment apart and rounded the elapsed time to the millisecond: no lateness in that."""
    reading = phone_reading(RECEIVED, 900_000)

    timing = event_timing(reading, TRUTH, 900_000 - round((RECEIVED - TRUTH).total_seconds() * 1000) + 3)

    assert (timing.corrected_time, timing.source) == (TRUTH, "elapsed")


BOOT_B = BOOT_A + timedelta(hours=2)  # the phone restarted two hours after BOOT_A


def _named(wall_minutes: float, elapsed_minutes: float, boots: list[datetime] | None = None) -> datetime | None:
    """A fact read by its wall clock at BOOT_A + `wall_minutes`, `elapsed_minutes` into its boot, received at +3 h."""
    return by_the_boot_it_names(
        BOOT_A + timedelta(minutes=wall_minutes), round(elapsed_minutes * 60_000),
        [BOOT_A, BOOT_B] if boots is None else boots, BOOT_A + timedelta(hours=3), WITHIN,
    )


def test_e_clock_a_wall_clock_set_back_in_the_boot_it_names_is_read_by_that_boots_monotonic_clock() -> None:
    assert _named(wall_minutes=60, elapsed_minutes=85) == BOOT_A + timedelta(minutes=85)


def test_e_clock_a_wall_clock_its_boot_bears_out_within_the_limit_stands() -> None:
    assert _named(wall_minutes=60, elapsed_minutes=61) is None


def test_e_clock_a_monotonic_time_beyond_the_next_boot_is_of_no_boot_known_and_the_wall_clock_stands() -> None:
    assert _named(wall_minutes=60, elapsed_minutes=125) is None


def test_e_clock_a_wall_clock_later_than_its_boot_says_may_be_of_an_unknown_boot_and_stands() -> None:
    assert _named(wall_minutes=60, elapsed_minutes=10) is None


def test_e_clock_a_wall_clock_before_every_known_boot_stands() -> None:
    assert _named(wall_minutes=-5, elapsed_minutes=85) is None


def _counted(wall_minutes: float, elapsed_minutes: float) -> datetime | None:
    """A fact read by its wall clock at BOOT_A + `wall_minutes`, `elapsed_minutes` into BOOT_A by the phone's count."""
    return by_its_counted_boot(
        BOOT_A + timedelta(minutes=wall_minutes), round(elapsed_minutes * 60_000), BOOT_A, BOOT_A + timedelta(hours=3),
        WITHIN,
    )


def test_e_clock_a_wall_clock_set_back_in_a_counted_boot_is_read_by_its_monotonic_clock() -> None:
    assert _counted(wall_minutes=60, elapsed_minutes=85) == BOOT_A + timedelta(minutes=85)


def test_e_clock_a_wall_clock_set_ahead_in_a_counted_boot_is_read_by_its_monotonic_clock() -> None:
    assert _counted(wall_minutes=70, elapsed_minutes=60) == BOOT_A + timedelta(minutes=60)


def test_e_clock_a_wall_clock_a_counted_boot_bears_out_within_the_limit_stands() -> None:
    assert _counted(wall_minutes=60, elapsed_minutes=61) is None


def test_e_clock_a_counted_boot_that_puts_a_fact_after_its_receipt_is_not_believed() -> None:
    assert _counted(wall_minutes=60, elapsed_minutes=200) is None


BOOTED = RECEIVED - timedelta(hours=3)  # when the phone booted, by the server's clock


def sent_after(elapsed_s: float, in_flight_s: float) -> tuple[datetime, int]:
    """A fact sent the moment it happened, `elapsed_s` into the boot, read by its send's receipt."""
    return BOOTED + timedelta(seconds=elapsed_s + in_flight_s), round(elapsed_s * 1000)


def test_e_clock_a_boot_of_prompt_sends_re_reads_nothing():
    assert without_slow_sends([sent_after(100, 0.05), sent_after(700, 0.9)]) == [None, None]


def test_e_clock_a_send_five_seconds_in_flight_is_re_read_from_the_boot_the_prompt_sends_date():
    reread = without_slow_sends([sent_after(100, 0.0), sent_after(700, 5.0), sent_after(710, 0.0)])

    assert reread == [None, BOOTED + timedelta(seconds=700), None]


def test_e_clock_sends_further_apart_than_the_slowest_send_are_not_read_as_one_boot():
    assert without_slow_sends([sent_after(100, 0.0), sent_after(700, 31.0)]) == [None, None]
