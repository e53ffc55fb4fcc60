"""V-PUNCT on the trusted arrival time, and how that time is chosen (E-CLOCK)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from fieldsvc.audit.facts import ClockSyncFacts, OnMyWayFacts, PhoneBoot, VisitFacts
from fieldsvc.audit.timeline import by_an_earlier_boot
from tests.unit.audit.builders import (
    AGREED, at, arriving_at, audit, checkin, codes, finding, honest_urban_install, policy_for, replace_checkin,
    reschedule,
)


def test_v_punct_arrival_at_exactly_ten_minutes_late_passes() -> None:
    verdict = audit(arriving_at(honest_urban_install(), AGREED + timedelta(minutes=10)))

    assert verdict.status == "passed"
    assert "v.punct.late" not in codes(verdict)


def test_v_punct_arrival_ten_minutes_late_within_the_second_passes() -> None:
    verdict = audit(arriving_at(honest_urban_install(), AGREED + timedelta(minutes=10, microseconds=999_000)))

    assert "v.punct.late" not in codes(verdict)


def test_v_punct_arrival_ten_minutes_early_within_the_second_passes() -> None:
    verdict = audit(arriving_at(honest_urban_install(), AGREED - timedelta(minutes=10, microseconds=999_000)))

    assert "v.punct.early" not in codes(verdict)


def test_v_punct_arrival_ten_minutes_one_second_late_is_violation() -> None:
    verdict = audit(arriving_at(honest_urban_install(), AGREED + timedelta(minutes=10, seconds=1)))

    late = finding(verdict, "v.punct.late")
    assert verdict.status == "flagged"
    assert (late.rule_id, late.severity, late.unit) == ("V-PUNCT", "violation", "min")
    assert late.measured == 10.02 and late.threshold == 10.0
    assert late.refs == ("checkin:arrival",)
    assert "10:10:01" in late.message_en and "晚 10.02 分钟" in late.message_zh


def test_v_punct_message_names_the_sites_utc_offset_beside_its_local_time() -> None:
    """The evidence timeline is in UTC: a site-local time without its offset reads as eight hours wrong there."""
    verdict = audit(arriving_at(honest_urban_install(), AGREED + timedelta(minutes=10, seconds=1)))

    late = finding(verdict, "v.punct.late")
    assert "10:10:01 UTC+08:00" in late.message_en and "10:10:01 UTC+08:00" in late.message_zh


def test_v_punct_arrival_exactly_ten_minutes_early_passes() -> None:
    verdict = audit(arriving_at(honest_urban_install(), AGREED - timedelta(minutes=10)))

    assert verdict.findings == ()


def test_v_punct_arrival_more_than_ten_minutes_early_is_a_warning_by_default() -> None:
    verdict = audit(arriving_at(honest_urban_install(), AGREED - timedelta(minutes=10, seconds=1)))

    early = finding(verdict, "v.punct.early")
    assert early.severity == "warning" and early.measured == -10.02 and early.threshold == -10.0
    assert verdict.status == "passed"


def test_v_punct_early_arrival_is_a_violation_when_the_policy_says_so() -> None:
    visit = arriving_at(honest_urban_install(), AGREED - timedelta(minutes=30))
    strict = replace(policy_for(visit), early_arrival_severity="violation")

    verdict = audit(visit, policy=strict)

    assert finding(verdict, "v.punct.early").severity == "violation"
    assert verdict.status == "flagged"


def test_v_punct_customer_initiated_reschedule_moves_the_punctuality_reference() -> None:
    visit = reschedule(honest_urban_install(), at(10, 30), initiator="customer", recorded_at=at(8, 0))
    visit = arriving_at(visit, at(10, 38))  # 38 min after the original time, 8 after the new one

    assert "v.punct.late" not in codes(audit(visit))


def test_v_punct_company_initiated_reschedule_also_moves_the_punctuality_reference() -> None:
    visit = reschedule(honest_urban_install(), at(10, 30), initiator="company", recorded_at=at(8, 0),
                       reason_code="technician_unavailable")
    visit = arriving_at(visit, at(10, 38))

    assert "v.punct.late" not in codes(audit(visit))


def test_v_punct_first_arrival_that_proves_presence_counts_not_an_earlier_one_from_afar() -> None:
    visit = honest_urban_install()
    from_afar = checkin("arrival", at(9, 55), north_m=2000.0, event_id="afar")
    at_the_door = checkin("arrival", at(10, 25), event_id="door")
    visit = replace(visit, checkins=(from_afar, at_the_door) + visit.checkins[1:])

    verdict = audit(visit)

    assert finding(verdict, "v.punct.late").refs == ("checkin:door",)
    assert finding(verdict, "v.geofence.outside").refs == ("checkin:afar",)


def test_v_punct_mock_arrival_never_counts_as_proof_of_presence() -> None:
    visit = honest_urban_install()
    mocked = checkin("arrival", at(9, 55), mock=True, event_id="mocked")
    real = checkin("arrival", at(10, 20), event_id="real")
    visit = replace(visit, checkins=(mocked, real) + visit.checkins[1:])

    assert finding(audit(visit), "v.punct.late").refs == ("checkin:real",)


def test_v_punct_trusts_the_device_time_corrected_by_the_measured_offset() -> None:
    offline = replace(
        checkin("arrival", at(10, 5), clock_offset_s=-1800.0), received_at=at(13, 0),  # synced three hours later
    )
    verdict = audit(replace_checkin(honest_urban_install(), "arrival", offline))

    assert verdict.trusted_arrival.source == "device_corrected"
    assert verdict.trusted_arrival.at == at(10, 5)
    assert "the phone's clock running 1800 s slow" in verdict.trusted_arrival.reason_en


def test_v_punct_falls_back_to_server_receipt_when_no_offset_was_measured_and_it_was_sent_online() -> None:
    online = replace(checkin("arrival", at(10, 4), sent_after_s=5.0), corrected_time=None)

    verdict = audit(replace_checkin(honest_urban_install(), "arrival", online))

    assert verdict.trusted_arrival.source == "server_receipt"
    assert verdict.trusted_arrival.at == online.received_at
    assert "sent online" in verdict.trusted_arrival.reason_en


def test_v_punct_does_not_take_a_late_receipt_for_the_arrival_time() -> None:
    """An honest phone that was offline must not look late because its check-in reached the server late."""
    offline = replace(checkin("arrival", at(9, 58)), corrected_time=None, received_at=at(12, 0))

    verdict = audit(replace_checkin(honest_urban_install(), "arrival", offline))

    assert verdict.trusted_arrival.at == at(9, 58)
    assert "v.punct.late" not in codes(verdict)


def test_v_punct_rejects_a_correction_later_than_the_server_receipt() -> None:
    impossible = replace(checkin("arrival", at(9, 58)), corrected_time=at(10, 30), received_at=at(9, 58, 3))

    verdict = audit(replace_checkin(honest_urban_install(), "arrival", impossible))

    assert verdict.trusted_arrival.source == "server_receipt"
    assert "correction was rejected" in verdict.trusted_arrival.reason_en


def test_v_punct_uses_the_first_photo_when_there_is_no_arrival_check_in_and_e_clock_warns() -> None:
    visit = honest_urban_install()
    visit = replace(visit, checkins=visit.checkins[1:])

    verdict = audit(visit)

    assert verdict.trusted_arrival.source == "first_photo"
    assert verdict.trusted_arrival.ref == "photo:shoe_covers-020100"
    assert {"v.checkin.missing", "e.clock.unverified"} <= codes(verdict)


def test_e_clock_unverified_when_arrival_rests_on_the_phone_clock_of_a_late_upload() -> None:
    late_upload = replace(checkin("arrival", at(9, 58)), corrected_time=None, received_at=at(12, 0))

    verdict = audit(replace_checkin(honest_urban_install(), "arrival", late_upload))

    assert verdict.trusted_arrival.source == "device_clock"
    assert finding(verdict, "e.clock.unverified").severity == "warning"
    assert verdict.status == "passed"


def test_v_punct_without_any_arrival_evidence_reports_nothing_itself() -> None:
    visit = honest_urban_install()
    visit = replace(visit, checkins=visit.checkins[1:], photos=())

    verdict = audit(visit)

    assert verdict.trusted_arrival is None
    assert not {f.code for f in verdict.findings if f.rule_id == "V-PUNCT"}
    assert "v.checkin.missing" in codes(verdict)


def with_on_my_way(arrival_sent_after: timedelta, on_my_way_at, on_my_way_received_at):  # noqa: ANN001, ANN201
    """The urban install (arrival 09:57 by its corrected time), its arrival sent `arrival_sent_after` later, and an
    "on my way" message."""
    visit = honest_urban_install()
    arrival = checkin("arrival", at(9, 57), clock_offset_s=0.8, sent_after_s=arrival_sent_after.total_seconds())
    message = OnMyWayFacts("on-my-way-1", on_my_way_at, on_my_way_received_at)
    return replace(visit, checkins=(arrival, *visit.checkins[1:]), on_my_way=(message,))


def test_v_punct_an_arrival_dated_before_an_on_my_way_that_reached_the_service_first_is_backdated() -> None:
    visit = with_on_my_way(timedelta(minutes=16), at(10, 5), at(10, 5, 1))  # sent online at 10:05, arrival at 10:13

    backdated = finding(audit(visit), "v.punct.backdated")
    assert (backdated.severity, backdated.measured, backdated.threshold) == ("violation", 8.0, 2.0)
    assert backdated.refs[1] == "on_my_way:on-my-way-1"


def test_v_punct_an_on_my_way_and_an_arrival_synced_together_after_being_offline_are_in_order() -> None:
    visit = with_on_my_way(timedelta(minutes=16), at(9, 40), at(10, 13, 2))

    assert audit(visit).findings == ()


def test_v_punct_an_on_my_way_pressed_after_the_arrival_was_sent_contradicts_nothing() -> None:
    visit = with_on_my_way(timedelta(seconds=2), at(10, 5), at(10, 5, 1))

    assert audit(visit).findings == ()


def test_v_punct_another_phones_clock_put_right_on_a_visit_handed_over_widens_no_allowance_for_backdating() -> None:
    visit = with_on_my_way(timedelta(minutes=16), at(10, 5), at(10, 5, 1))
    arrival = replace(visit.checkins[0], phone_id="second")
    first_phone = (ClockSyncFacts(at(9, 0), -1800.0, "a", "first"), ClockSyncFacts(at(9, 30), 0.0, "b", "first"))
    visit = replace(visit, checkins=(arrival, *visit.checkins[1:]), clock_syncs=first_phone)

    assert finding(audit(visit), "v.punct.backdated").threshold == 2.0


def test_v_punct_an_arrival_recorded_offline_on_a_clock_put_right_before_the_sync_is_not_backdated() -> None:
    # The phone was 5 min slow when it said it was on its way and when it arrived offline; the network set its clock
    # right before the sync, so the arrival's device time was corrected by nothing and reads 2.5 min early.
    visit = with_on_my_way(timedelta(minutes=3), at(9, 59, 30), at(9, 59, 31))
    visit = replace(visit, clock_syncs=(ClockSyncFacts(at(9, 59, 31), -300.0), ClockSyncFacts(at(10, 0), 0.0)))

    assert "v.punct.backdated" not in codes(audit(visit))


def synced_after_a_restart(boots: tuple[PhoneBoot, ...]):  # noqa: ANN201
    """The urban install's arrival at 09:57 on a right wall clock, 6 min after the phone booted at 09:51, sent from a
    batch at 10:18: the service corrected it by the monotonic clock of the boot that sent the batch (12 min of it
    by then), so it reads 10:12. `boots`: the boots its facts give (an on-my-way at 09:56 gave 09:51)."""
    visit = honest_urban_install()
    arrival = replace(
        checkin("arrival", at(9, 57), clock_offset_s=0.0),
        received_at=at(10, 18), corrected_time=at(10, 12), device_elapsed_ms=6 * 60_000,
    )
    syncs = (ClockSyncFacts(at(9, 56), 0.0), ClockSyncFacts(at(10, 18), 0.0))
    return replace(visit, checkins=(arrival, *visit.checkins[1:]), clock_syncs=syncs, boots=boots)


def test_v_punct_an_arrival_recorded_before_the_phone_restarted_is_read_by_the_boot_it_came_from() -> None:
    verdict = audit(synced_after_a_restart(boots=(PhoneBoot(at(9, 51)), PhoneBoot(at(10, 6)))))  # restarted at 10:06

    assert verdict.trusted_arrival.at == at(9, 57)
    assert "v.punct.late" not in codes(verdict)


def test_v_punct_an_arrival_dated_back_on_the_wall_clock_alone_is_read_by_the_monotonic_clock() -> None:
    # One boot throughout: the monotonic clock saw the arrival at 10:12, whatever the wall clock was made to say.
    verdict = audit(synced_after_a_restart(boots=(PhoneBoot(at(10, 6)),)))

    assert verdict.trusted_arrival.at == at(10, 12)
    assert "v.punct.late" in codes(verdict)


def test_v_punct_a_second_arrival_dated_before_the_one_sent_first_is_backdated() -> None:
    visit = honest_urban_install()
    late = checkin("arrival", at(10, 12), event_id="late-arrival")  # sent online at 10:12
    dated_back = replace(checkin("arrival", at(10, 1), event_id="dated-back"), received_at=at(10, 20))
    visit = replace(visit, checkins=(late, dated_back, *visit.checkins[1:]))

    backdated = finding(audit(visit), "v.punct.backdated")
    assert (backdated.measured, backdated.refs) == (11.0, ("checkin:dated-back", "checkin:late-arrival"))


def test_v_punct_a_second_arrival_dated_back_within_the_clock_allowance_does_not_move_the_arrival() -> None:
    visit = honest_urban_install()
    late = checkin("arrival", at(10, 11, 30), event_id="late-arrival")  # sent online, 11.5 min late
    dated_back = replace(checkin("arrival", at(10, 9, 45), event_id="dated-back"), received_at=at(10, 25))

    verdict = audit(replace(visit, checkins=(late, dated_back, *visit.checkins[1:])))

    assert verdict.trusted_arrival.ref == "checkin:late-arrival"
    assert finding(verdict, "v.punct.late").measured == 11.5


def test_v_punct_an_arrival_sent_to_a_returned_visit_dated_before_the_first_does_not_move_it() -> None:
    visit = honest_urban_install()
    late = checkin("arrival", at(10, 11, 30), event_id="late-arrival")
    dated_back = replace(checkin("arrival", at(10, 9, 45), event_id="after-return"), received_at=at(15, 0))
    returned = replace(visit, checkins=(late, dated_back, *visit.checkins[1:]), first_completed_at=at(11, 13))

    assert finding(audit(returned), "v.punct.late").measured == 11.5


def test_v_punct_a_tap_that_failed_and_was_sent_after_the_next_one_keeps_the_arrival_of_the_one_sent() -> None:
    visit = honest_urban_install()
    sent = checkin("arrival", at(9, 58), event_id="second-tap")
    retried = replace(checkin("arrival", at(9, 57, 30), event_id="first-tap"), received_at=at(10, 5))

    verdict = audit(replace(visit, checkins=(sent, retried, *visit.checkins[1:])))

    assert verdict.trusted_arrival.ref == "checkin:second-tap"
    assert verdict.findings == ()


def test_v_punct_an_arrival_from_afar_on_time_then_one_at_the_door_later_is_not_backdated() -> None:
    visit = honest_urban_install()
    from_the_car = checkin("arrival", at(9, 58), event_id="car", north_m=600.0)
    at_the_door = checkin("arrival", at(10, 4), event_id="door")
    visit = replace(visit, checkins=(from_the_car, at_the_door, *visit.checkins[1:]))

    assert "v.punct.backdated" not in codes(audit(visit))


def test_v_punct_an_arrival_dated_before_the_visit_was_booked_is_flagged() -> None:
    visit = replace(honest_urban_install(), booked_at=at(10, 0))  # booked at 10:00 the same day; arrival 09:57

    before = finding(audit(visit), "v.punct.before_booking")
    assert (before.severity, before.measured, before.threshold) == ("violation", -3.0, -2.0)


def test_v_punct_an_arrival_within_the_clock_skew_limit_of_the_booking_is_not_before_it() -> None:
    visit = replace(honest_urban_install(), booked_at=at(9, 59))  # booked while the technician was at the door

    assert "v.punct.before_booking" not in codes(audit(visit))


def test_v_punct_a_check_in_sent_to_correct_a_returned_visit_does_not_move_the_arrival() -> None:
    visit = honest_urban_install()  # arrived 9:57 from 3 km away, completed 11:13, returned, checked in again
    afar = replace(visit, checkins=(checkin("arrival", at(9, 57), north_m=3000.0), *visit.checkins[1:]),
                   first_completed_at=at(11, 13))
    corrected = replace(afar, checkins=(*afar.checkins, checkin("arrival", at(15, 30), event_id="again")))

    verdict = audit(corrected)

    assert {"v.punct.late", "v.sign.before_arrival"}.isdisjoint(codes(verdict))
    assert "v.geofence.outside" in codes(verdict)


def test_v_punct_a_coarse_check_in_on_time_a_check_out_and_the_real_arrival_25_min_late_is_late() -> None:
    visit = honest_urban_install()
    coarse = checkin("arrival", AGREED, accuracy_m=500.0, event_id="coarse")
    away = checkin("checkout", AGREED + timedelta(minutes=1), accuracy_m=500.0, event_id="away")
    real = checkin("arrival", AGREED + timedelta(minutes=25), event_id="real")

    verdict = audit(replace(visit, checkins=(coarse, away, real, *visit.checkins[1:])))

    assert finding(verdict, "v.punct.late").measured == 25.0


def coarse_then_good_arrival(coarse_north_m: float, good_after: timedelta) -> VisitFacts:
    """A coarse arrival at 10:09:30 (130 m accuracy against the 100 m limit), then the same arrival tapped again."""
    visit = honest_urban_install()
    coarse = checkin("arrival", AGREED + timedelta(minutes=9, seconds=30), north_m=coarse_north_m, accuracy_m=130.0,
                     event_id="coarse")
    good = checkin("arrival", coarse.device_time + good_after, north_m=20.0, accuracy_m=25.0, event_id="good")
    return replace(visit, checkins=(coarse, good, *visit.checkins[1:]))


def test_v_punct_a_coarse_arrival_near_the_site_tapped_again_for_a_better_fix_counts_from_the_first_tap() -> None:
    verdict = audit(coarse_then_good_arrival(30.0, timedelta(seconds=90)))

    assert "v.punct.late" not in codes(verdict)
    assert verdict.trusted_arrival.ref == "checkin:coarse"


def test_v_punct_a_coarse_arrival_beyond_reach_of_the_site_does_not_count_for_the_later_good_one() -> None:
    verdict = audit(coarse_then_good_arrival(260.0, timedelta(seconds=90)))  # 260 m: beyond 100 m + 100 m

    assert finding(verdict, "v.punct.late").measured == 11.0


def test_v_punct_a_coarse_arrival_older_than_a_fix_may_be_does_not_count_for_the_good_one() -> None:
    verdict = audit(coarse_then_good_arrival(30.0, timedelta(minutes=10, seconds=30)))

    assert finding(verdict, "v.punct.late").measured == 20.0


def arrival_held_back(monotonic: bool) -> VisitFacts:
    """Recorded at 09:57 by a phone that sent its monotonic clock with its other facts, received at 10:12."""
    arrival = replace(
        checkin("arrival", at(9, 57), sent_after_s=15 * 60), device_elapsed_ms=3_600_000 if monotonic else None
    )
    return replace(replace_checkin(honest_urban_install(), "arrival", arrival), boots=(PhoneBoot(at(8, 57)),))


def test_v_punct_an_arrival_held_back_with_its_monotonic_time_counts_when_recorded() -> None:
    verdict = audit(arrival_held_back(monotonic=True))

    assert (verdict.trusted_arrival.at, verdict.trusted_arrival.source) == (at(9, 57), "device_corrected")


def test_v_punct_an_arrival_left_without_the_monotonic_time_the_phone_sends_counts_at_its_receipt() -> None:
    verdict = audit(arrival_held_back(monotonic=False))

    assert (verdict.trusted_arrival.at, verdict.trusted_arrival.source) == (at(10, 12), "server_receipt")
    assert "monotonic clock with its other facts" in verdict.trusted_arrival.reason_en
    assert finding(verdict, "v.punct.late").measured == 12.0


def test_v_punct_an_arrival_without_monotonic_time_from_the_phone_a_visit_was_handed_to_counts_when_recorded() -> None:
    """The first technician's phone sent its monotonic clock (on its way), the new technician's sends none (a probe)."""
    visit = arrival_held_back(monotonic=False)
    visit = replace(visit, boots=(PhoneBoot(at(8, 57), "first-technician"),))

    assert (audit(visit).trusted_arrival.at, audit(visit).trusted_arrival.source) == (at(9, 57), "device_corrected")


def clock_set_back_offline(minutes_back: float, fix_after_s: float = 0.0, monotonic: bool = False) -> VisitFacts:
    """The urban install's technician arrives at 10:20, 20 min late, offline, on a phone whose wall clock was set
    `minutes_back` back (and put right before the sync at 12:20); its location fix is timed by the satellites,
    `fix_after_s` after the tap; `monotonic`: the app sends its monotonic clock too."""
    visit = honest_urban_install()
    arrived = at(10, 20)
    arrival = replace(
        checkin("arrival", arrived, clock_offset_s=-60 * minutes_back),
        received_at=at(12, 20), corrected_time=arrived - timedelta(minutes=minutes_back),
        fix_time=arrived + timedelta(seconds=fix_after_s), device_elapsed_ms=600_000 if monotonic else None,
        by_monotonic=monotonic,
    )
    return replace(visit, checkins=(arrival, *visit.checkins[1:]), clock_syncs=(ClockSyncFacts(at(12, 20), 0.0),))


def test_v_punct_an_arrival_dated_well_before_its_own_location_fix_counts_from_just_before_the_fix() -> None:
    verdict = audit(clock_set_back_offline(30))

    assert (verdict.trusted_arrival.at, verdict.trusted_arrival.source) == (at(10, 18), "location_fix")
    assert finding(verdict, "v.punct.late").measured == 18.0
    behind = finding(verdict, "e.clock.behind_location_fix")
    assert (behind.severity, behind.measured, behind.threshold) == ("warning", 1800.0, 120.0)


def test_v_punct_a_location_fix_within_the_clock_skew_limit_after_the_check_in_changes_nothing() -> None:
    verdict = audit(clock_set_back_offline(2))

    assert verdict.trusted_arrival.source == "device_corrected"
    assert "e.clock.behind_location_fix" not in codes(verdict)


def test_v_punct_a_fix_taken_minutes_after_the_tap_moves_an_honest_arrival_by_no_more_than_the_gap_past_the_limit() -> None:
    verdict = audit(clock_set_back_offline(0, fix_after_s=180))  # a cold GPS start: the fix 3 min after the tap

    assert verdict.trusted_arrival.at == at(10, 21)


def test_v_punct_a_fix_later_than_the_tap_leaves_a_time_resting_on_the_monotonic_clock() -> None:
    verdict = audit(clock_set_back_offline(0, fix_after_s=180, monotonic=True))

    assert verdict.trusted_arrival.source == "device_corrected"


def test_v_punct_a_monotonic_time_of_an_earlier_boot_does_not_spare_an_arrival_the_location_fix_floor() -> None:
    # Clock set back 15 min, arrival tapped offline, phone restarted, clock put right, synced: the service could not
    # use the monotonic time (another boot's), so the check-in's time is its wall clock's.
    visit = clock_set_back_offline(15)
    arrival = replace(visit.checkins[0], device_elapsed_ms=300_000, by_monotonic=False)
    verdict = audit(replace(visit, checkins=(arrival, *visit.checkins[1:])))

    assert (verdict.trusted_arrival.at, verdict.trusted_arrival.source) == (at(10, 18), "location_fix")


def test_v_punct_a_fast_phone_clock_that_also_times_the_fix_is_corrected_as_before() -> None:
    visit = honest_urban_install()
    fast = checkin("arrival", at(10, 5), clock_offset_s=420.0)  # fix and check-in both on the phone's fast clock
    verdict = audit(replace(visit, checkins=(replace(fast, received_at=at(11, 5)), *visit.checkins[1:])))

    assert (verdict.trusted_arrival.at, verdict.trusted_arrival.source) == (at(10, 5), "device_corrected")


def test_e_clock_a_fact_of_an_earlier_boot_is_read_by_it_only_where_its_wall_clock_agrees() -> None:
    policy, booted = policy_for(honest_urban_install()), at(8, 0)
    an_hour_in = 3_600_000

    assert by_an_earlier_boot(an_hour_in, at(9, 0, 30), [booted], policy) == at(9, 0)
    assert by_an_earlier_boot(an_hour_in, at(8, 30), [booted], policy) is None  # the wall clock set back half an hour

