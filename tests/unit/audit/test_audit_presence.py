"""V-GEOFENCE (accuracy-aware), V-LEAVE, V-CHECKOUT and E-MOCK."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from fieldsvc.audit.facts import LeaveFacts, NeighbourFix, ServiceTestFacts, VisitFacts

from tests.unit.audit.builders import (
    at, audit, checkin, codes, context, finding, honest_rural_repair, honest_urban_install, moved, policy_for,
    replace_checkin,
)

RETURNED = {"first_returned_at": at(12, 30)}  # an auditor returned the visit the day it was first completed


def arrival_at_distance(north_m: float, accuracy_m: float):  # noqa: ANN201
    return audit(replace_checkin(honest_urban_install(), "arrival",
                                 checkin("arrival", at(9, 58), north_m=north_m, accuracy_m=accuracy_m)))


def test_v_geofence_inside_when_distance_minus_accuracy_is_just_within_the_radius() -> None:
    verdict = arrival_at_distance(north_m=150.0 + 100.0 - 0.01, accuracy_m=100.0)

    assert verdict.findings == ()


def test_v_geofence_outside_when_distance_minus_accuracy_exceeds_the_radius() -> None:
    verdict = arrival_at_distance(north_m=150.0 + 100.0 + 0.5, accuracy_m=100.0)

    outside = finding(verdict, "v.geofence.outside")
    assert (outside.rule_id, outside.severity, outside.unit) == ("V-GEOFENCE", "violation", "m")
    assert outside.threshold == 150.0
    assert outside.measured == 150.5
    assert verdict.status == "flagged"


def test_v_geofence_outside_says_the_distance_the_accuracy_and_the_nearest_they_allow_which_it_measures() -> None:
    verdict = arrival_at_distance(north_m=2021.0, accuracy_m=8.0)

    outside = finding(verdict, "v.geofence.outside")
    assert "2021 m from the site with accuracy 8 m: at least 2013.0 m" in outside.message_en
    assert "至少 2013.0 米" in outside.message_zh


def test_v_geofence_accuracy_at_the_limit_still_proves_presence() -> None:
    verdict = arrival_at_distance(north_m=20.0, accuracy_m=100.0)

    assert verdict.findings == ()


def test_v_geofence_accuracy_just_over_the_limit_is_location_unverifiable() -> None:
    verdict = arrival_at_distance(north_m=20.0, accuracy_m=100.01)

    unverifiable = finding(verdict, "v.geofence.unverifiable")
    assert unverifiable.severity == "warning" and unverifiable.measured == 100.0 and unverifiable.threshold == 100.0
    assert "location unverifiable" in unverifiable.message_en and "位置无法核实" in unverifiable.message_zh


def only_coarse_fixes(north_m: float, accuracy_m: float):  # noqa: ANN201
    """Arrival and checkout both coarse and `north_m` away."""
    coarse = {"north_m": north_m, "accuracy_m": accuracy_m}
    visit = replace_checkin(honest_urban_install(), "arrival", checkin("arrival", at(9, 58), **coarse))
    return replace_checkin(visit, "checkout", checkin("checkout", at(11, 12), **coarse))


def arrival_finding(verdict, code: str):  # noqa: ANN001, ANN201
    [found] = [f for f in verdict.findings if f.code == code and f.refs[0].startswith("checkin:arrival")]
    return found


def test_v_geofence_a_coarse_fix_cannot_reach_the_site_through_its_accuracy_circle() -> None:
    """3 km away with a 3 km accuracy would be "inside" by the formula; the accuracy limit closes that hole."""
    verdict = audit(only_coarse_fixes(north_m=3000.0, accuracy_m=3000.0))

    assert "v.geofence.outside" not in codes(verdict)
    away = arrival_finding(verdict, "v.geofence.unverifiable_away")
    assert (away.severity, away.threshold, verdict.status) == ("violation", 250.0, "flagged")
    assert 2990 < away.measured < 3010


def test_v_geofence_a_coarse_fix_just_within_reach_of_the_site_is_only_unverifiable() -> None:
    verdict = audit(only_coarse_fixes(north_m=249.0, accuracy_m=400.0))

    assert arrival_finding(verdict, "v.geofence.unverifiable").severity == "warning"
    assert "v.geofence.unverifiable_away" not in codes(verdict)


def test_v_geofence_a_coarse_fix_just_beyond_reach_of_the_site_is_away() -> None:
    verdict = audit(only_coarse_fixes(north_m=251.0, accuracy_m=400.0))

    assert arrival_finding(verdict, "v.geofence.unverifiable_away").severity == "violation"


def test_v_geofence_a_coarse_check_out_far_away_is_only_unverifiable_as_it_records_the_departure() -> None:
    """Forgotten, and pressed indoors at a later site with a 180 m fix (a probe)."""
    pressed_later = checkin("checkout", at(12, 30), north_m=5_000.0, accuracy_m=180.0)

    verdict = audit(replace_checkin(honest_urban_install(), "checkout", pressed_later))

    assert finding(verdict, "v.geofence.unverifiable").severity == "warning"
    assert codes(verdict, "violation") == set()


def test_v_geofence_a_coarse_fix_far_away_is_only_unverifiable_when_a_good_fix_proves_presence() -> None:
    coarse_first = checkin("arrival", at(9, 56), event_id="coarse", north_m=900.0, accuracy_m=1000.0)
    visit = replace(honest_urban_install(), checkins=honest_urban_install().checkins + (coarse_first,))

    verdict = audit(visit)

    assert finding(verdict, "v.geofence.unverifiable").refs == ("checkin:coarse",)
    assert "v.geofence.unverifiable_away" not in codes(verdict)


def test_v_geofence_a_coarse_arrival_far_away_is_away_though_the_checkout_was_at_the_site() -> None:
    """Checking in from afar on time and walking in late must not pass: only a good arrival proves the arrival."""
    coarse = checkin("arrival", at(9, 58), north_m=900.0, accuracy_m=1000.0)
    verdict = audit(replace_checkin(honest_urban_install(), "arrival", coarse))

    assert arrival_finding(verdict, "v.geofence.unverifiable_away").measured > 890
    assert "checkin:checkout-031200" not in {ref for f in verdict.findings for ref in f.refs}


def test_v_geofence_unverifiable_location_severity_comes_from_the_policy() -> None:
    visit = replace_checkin(honest_urban_install(), "arrival", checkin("arrival", at(9, 58), accuracy_m=500.0))
    strict = replace(policy_for(visit), unverifiable_location_severity="violation")

    assert audit(visit, policy=strict).status == "flagged"


def test_v_geofence_a_check_out_forgotten_and_pressed_from_the_next_site_is_a_warning() -> None:
    visit = replace_checkin(honest_urban_install(), "checkout", checkin("checkout", at(11, 40), north_m=4_000.0))

    outside = finding(audit(visit), "v.geofence.outside")
    assert (outside.refs, outside.severity) == (("checkin:checkout-034000",), "warning")


def test_v_geofence_a_check_out_pressed_at_the_van_just_outside_is_a_warning() -> None:
    visit = replace_checkin(honest_urban_install(), "checkout", checkin("checkout", at(11, 12), north_m=195.0))

    verdict = audit(visit)
    assert (finding(verdict, "v.geofence.outside").severity, verdict.status) == ("warning", "passed")


def test_v_geofence_an_arrival_just_outside_followed_by_one_inside_is_a_warning() -> None:
    jitter = checkin("arrival", at(9, 56), event_id="jitter", north_m=170.0, accuracy_m=12.0)
    visit = replace(honest_urban_install(), checkins=(jitter, *honest_urban_install().checkins))

    verdict = audit(visit)
    outside = finding(verdict, "v.geofence.outside")
    assert (outside.refs, outside.severity, verdict.status) == (("checkin:jitter",), "warning", "passed")


def test_v_geofence_an_arrival_from_afar_after_the_visit_was_returned_is_not_excused_by_the_first_days_arrival() -> None:
    far = checkin("arrival", at(10, 0, day=8), event_id="from-home", north_m=5_000.0)
    visit = replace(honest_urban_install(), checkins=(*honest_urban_install().checkins, far),
                    first_completed_at=at(11, 15))

    outside = finding(audit(visit), "v.geofence.outside")
    assert (outside.refs, outside.severity) == (("checkin:from-home",), "violation")


def test_v_geofence_an_arrival_at_the_site_after_the_visit_was_completed_proves_nothing_about_it() -> None:
    """Checked in from 2 km away with a 3 km fix, never from the site; the auditor returned the visit and the phone
    checked in at the site two days later (a probe)."""
    coarse = checkin("arrival", at(9, 58), event_id="coarse", north_m=2_000.0, accuracy_m=3_000.0)
    later = checkin("arrival", at(10, 0, day=9), event_id="later")
    visit = replace(honest_urban_install(), checkins=(coarse, later, honest_urban_install().checkins[1]),
                    first_completed_at=at(11, 15))

    assert finding(audit(visit), "v.geofence.unverifiable_away").severity == "violation"


def test_v_checkin_missing_arrival_check_in_is_a_violation_once_the_visit_is_completed() -> None:
    visit = honest_urban_install()
    visit = replace(visit, checkins=visit.checkins[1:])

    missing = finding(audit(visit), "v.checkin.missing")
    assert (missing.rule_id, missing.severity, missing.message_zh) == ("V-CHECKIN", "violation", "缺少到达签到")


def test_v_checkout_before_the_arrival_is_a_violation() -> None:
    visit = replace_checkin(honest_urban_install(), "checkout", checkin("checkout", at(9, 50)))  # arrival at 9:57

    early = finding(audit(visit), "v.checkout.before_arrival")
    assert (early.rule_id, early.severity, early.measured, early.threshold) == ("V-CHECKOUT", "violation", -7.0, 0.0)
    assert early.refs == ("checkin:checkout-015000",)  # ids are named after the UTC time


def test_v_checkout_at_the_instant_of_arrival_is_no_finding() -> None:
    visit = replace_checkin(honest_urban_install(), "checkout", checkin("checkout", at(9, 57)))

    assert "v.checkout.before_arrival" not in codes(audit(visit))


def test_v_checkout_missing_is_a_violation_once_the_visit_is_completed() -> None:
    visit = honest_urban_install()
    visit = replace(visit, checkins=visit.checkins[:1])

    missing = finding(audit(visit), "v.checkout.missing")
    assert missing.rule_id == "V-CHECKOUT" and missing.severity == "violation"


def test_v_leave_recorded_leave_and_return_pass() -> None:
    assert codes(audit(honest_rural_repair()), "violation") == set()


def test_v_leave_return_without_a_recorded_leave_is_violation() -> None:
    visit = replace(honest_rural_repair(), leaves=())

    unrecorded = finding(audit(visit), "v.leave.unrecorded")
    assert unrecorded.rule_id == "V-LEAVE" and unrecorded.refs == ("checkin:return-070500",)


def test_v_leave_not_returning_needs_a_promised_restore_time() -> None:
    visit = honest_rural_repair()
    no_promise = replace(visit, leaves=(LeaveFacts("leave-1", at(14, 40), will_return=False),))
    promised = replace(visit, leaves=(LeaveFacts("leave-1", at(14, 40), will_return=False, restore_by=at(18, 0)),))

    assert "v.leave.no_restore_time" in codes(audit(no_promise))
    assert "V-LEAVE" not in {f.rule_id for f in audit(promised).findings}


def left_promising_service_by_six(resolved_at: datetime) -> VisitFacts:
    visit = honest_rural_repair()
    leave = LeaveFacts("leave-1", at(14, 40), will_return=False, restore_by=at(18, 0))
    return replace(visit, leaves=(leave,), order=replace(visit.order, resolved_at=resolved_at))


def test_v_leave_a_work_order_resolved_after_the_promised_restore_time_is_violation() -> None:
    broken = finding(audit(left_promising_service_by_six(at(10, 0, day=7))), "v.leave.restore_promise_broken")

    assert (broken.rule_id, broken.severity, broken.measured) == ("V-LEAVE", "violation", 16 * 60.0)
    assert broken.refs[0] == "leave:leave-1"


def test_v_leave_a_work_order_resolved_by_the_promised_restore_time_keeps_the_promise() -> None:
    assert "v.leave.restore_promise_broken" not in codes(audit(left_promising_service_by_six(at(18, 0))))


def test_v_leave_saying_you_will_return_and_never_checking_in_again_is_violation() -> None:
    visit = honest_rural_repair()
    visit = replace(visit, checkins=tuple(c for c in visit.checkins if c.kind != "return"))

    assert finding(audit(visit), "v.leave.no_return").refs == ("leave:leave-1",)


def test_v_leave_a_return_still_to_come_is_not_reported_while_the_visit_is_pending() -> None:
    visit = honest_rural_repair()
    visit = replace(visit, checkins=visit.checkins[:1], completion=None)

    assert "v.leave.no_return" not in codes(audit(visit))


def fix_at_another_visit(when, north_m: float, accuracy_m: float = 10.0) -> NeighbourFix:  # noqa: ANN001
    latitude, longitude = moved(north_m, 0.0)
    return NeighbourFix("their-arrival", "visit-y", when, latitude, longitude, accuracy_m)


def test_v_leave_checked_in_at_another_visit_between_arrival_and_check_out_without_a_leave_is_violation() -> None:
    elsewhere = fix_at_another_visit(at(10, 30), north_m=5_000.0)  # the urban install runs 09:57 to 11:12

    unrecorded = finding(audit(honest_urban_install(), context(neighbour_fixes=(elsewhere,))), "v.leave.unrecorded")
    assert unrecorded.refs == ("visit:visit-y/checkin:their-arrival",)
    assert unrecorded.measured == 4990.0 and unrecorded.threshold == 150.0


def test_v_leave_checking_in_next_door_then_checking_out_of_here_from_there_is_no_leave() -> None:
    visit = honest_urban_install()
    next_door = fix_at_another_visit(at(11, 11), north_m=185.0, accuracy_m=8.0)  # a minute before this check-out
    late_checkout = checkin("checkout", at(11, 12), north_m=180.0, accuracy_m=35.0)  # sent from next door
    visit = replace(visit, checkins=(visit.checkins[0], late_checkout))

    assert "V-LEAVE" not in {f.rule_id for f in audit(visit, context(neighbour_fixes=(next_door,))).findings}


def test_v_leave_another_visit_checked_in_coarsely_far_away_is_still_a_leave() -> None:
    elsewhere = fix_at_another_visit(at(10, 30), north_m=5_000.0, accuracy_m=150.0)

    assert "v.leave.unrecorded" in codes(audit(honest_urban_install(), context(neighbour_fixes=(elsewhere,))))


def test_v_leave_another_visit_checked_in_far_away_with_an_accuracy_of_10_km_is_still_a_leave() -> None:
    elsewhere = fix_at_another_visit(at(10, 30), north_m=9_800.0, accuracy_m=10_000.0)

    unrecorded = finding(audit(honest_urban_install(), context(neighbour_fixes=(elsewhere,))), "v.leave.unrecorded")
    assert unrecorded.refs == ("visit:visit-y/checkin:their-arrival",)
    assert (unrecorded.measured, unrecorded.threshold) == (9800.0, 250.0)  # by its own position, as it was found away


def test_v_leave_another_visit_next_door_checked_in_coarsely_is_no_leave() -> None:
    next_door = fix_at_another_visit(at(10, 30), north_m=120.0, accuracy_m=800.0)

    verdict = audit(honest_urban_install(), context(neighbour_fixes=(next_door,)))
    assert "V-LEAVE" not in {f.rule_id for f in verdict.findings}


def test_v_geofence_a_check_out_from_afar_after_leaving_for_good_is_fine() -> None:
    visit = replace(honest_urban_install(), leaves=(LeaveFacts("leave-1", at(11, 8), False, restore_by=at(18, 0)),))
    visit = replace_checkin(visit, "checkout", checkin("checkout", at(11, 12), north_m=2_000.0))  # the exchange room

    assert codes(audit(visit), "violation") == set()


def test_v_leave_a_line_test_from_the_street_cabinet_after_leaving_for_good_is_fine() -> None:
    visit = replace(honest_urban_install(), leaves=(LeaveFacts("leave-1", at(11, 8), False, restore_by=at(18, 0)),))
    visit = replace(visit, tests=(ServiceTestFacts("test-cabinet", at(11, 40), True, download_mbps=500.0),))
    visit = replace_checkin(visit, "checkout", checkin("checkout", at(11, 45), north_m=2_000.0))  # at the cabinet

    assert codes(audit(visit), "violation") == set()


def test_v_clean_a_leave_without_return_recorded_early_with_the_check_out_at_the_site_long_after_ends_no_work() -> None:
    visit = replace(honest_urban_install(), leaves=(LeaveFacts("leave-1", at(10, 7), False, restore_by=at(18, 0)),))
    early_clean = replace(honest_urban_install().photos[5], captured_at=at(10, 6), recorded_at=at(10, 6))
    visit = replace(visit, photos=(*visit.photos[:5], early_clean))

    assert "v.clean.long_before_test" in codes(audit(visit))  # the check-out at 11:12 is at the site


def test_v_leave_work_with_the_customer_after_leaving_for_good_is_violation() -> None:
    # Left for good at 10:50 with no return check-in, yet the clean-up (11:02), signature (11:05) and card (11:06).
    visit = replace(honest_urban_install(), leaves=(LeaveFacts("leave-1", at(10, 50), False, restore_by=at(18, 0)),))

    found = finding(audit(visit), "v.leave.work_after_leaving")
    assert found.severity == "violation"
    assert found.refs[0] == "leave:leave-1" and "signature:signature-1" in found.refs and "card:card-1" in found.refs


def test_v_geofence_a_check_out_from_afar_after_leaving_for_good_and_coming_back_is_outside() -> None:
    visit = replace(honest_urban_install(), leaves=(LeaveFacts("leave-1", at(10, 30), False, restore_by=at(18, 0)),))
    visit = replace(visit, checkins=(*visit.checkins, checkin("return", at(10, 50))))
    visit = replace_checkin(visit, "checkout", checkin("checkout", at(11, 12), north_m=2_000.0))

    assert "v.geofence.outside" in codes(audit(visit))


def test_v_leave_a_leave_for_good_ends_at_the_return_that_follows_it_anyway() -> None:
    visit = honest_rural_repair()  # left 14:40 and came back 15:05
    visit = replace(visit, leaves=(LeaveFacts("leave-1", at(14, 40), will_return=False, restore_by=at(18, 0)),))
    later = fix_at_another_visit(at(15, 20), north_m=5_000.0)  # after the return, before the 15:50 check-out

    assert "v.leave.unrecorded" in codes(audit(visit, context(neighbour_fixes=(later,))))


def test_v_leave_a_leave_dated_before_the_arrival_covers_nothing() -> None:
    visit = replace(honest_urban_install(), leaves=(LeaveFacts("early", at(9, 50), False, restore_by=at(18, 0)),))
    elsewhere = fix_at_another_visit(at(10, 30), north_m=5_000.0)

    assert "v.leave.unrecorded" in codes(audit(visit, context(neighbour_fixes=(elsewhere,))))


def test_v_leave_another_visit_during_a_recorded_leave_is_fine() -> None:
    elsewhere = fix_at_another_visit(at(14, 50), north_m=5_000.0)  # the rural repair left 14:40, came back 15:05

    assert codes(audit(honest_rural_repair(), context(neighbour_fixes=(elsewhere,))), "violation") == set()


def test_v_leave_another_visit_in_the_same_building_is_no_leave() -> None:
    next_door = fix_at_another_visit(at(10, 30), north_m=40.0, accuracy_m=15.0)

    assert audit(honest_urban_install(), context(neighbour_fixes=(next_door,))).findings == ()


def test_v_leave_another_visit_before_arrival_or_after_check_out_is_no_leave() -> None:
    before, after = fix_at_another_visit(at(9, 20), 5_000.0), fix_at_another_visit(at(11, 40), 5_000.0)

    assert audit(honest_urban_install(), context(neighbour_fixes=(before, after))).findings == ()


def test_v_geofence_a_check_in_with_a_fix_three_hours_old_cannot_prove_presence() -> None:
    stale = checkin("arrival", at(9, 58), fix_age_s=3 * 3600)

    found = finding(audit(replace_checkin(honest_urban_install(), "arrival", stale)), "v.geofence.stale_fix")
    assert (found.severity, found.measured, found.threshold) == ("warning", 180.0, 10.0)


def test_v_geofence_a_stale_fix_from_five_km_away_standing_for_the_arrival_is_violation() -> None:
    stale_far = checkin("arrival", at(9, 58), north_m=5_000.0, fix_age_s=11 * 60)

    found = finding(audit(replace_checkin(honest_urban_install(), "arrival", stale_far)), "v.geofence.stale_away")
    assert found.severity == "violation"


def test_v_geofence_a_stale_fix_from_afar_followed_by_a_fresh_one_at_the_site_stays_a_warning() -> None:
    visit = honest_urban_install()
    stale_far = checkin("arrival", at(9, 56), event_id="cached", north_m=5_000.0, fix_age_s=11 * 60)
    visit = replace(visit, checkins=(stale_far, *visit.checkins))

    assert codes(audit(visit)) == {"v.geofence.stale_fix"}


def test_v_geofence_a_fix_at_the_age_limit_still_proves_presence() -> None:
    at_limit = checkin("arrival", at(9, 58), fix_age_s=10 * 60)
    beyond = checkin("arrival", at(9, 58), fix_age_s=10 * 60 + 1)

    assert audit(replace_checkin(honest_urban_install(), "arrival", at_limit)).findings == ()
    assert "v.geofence.stale_fix" in codes(audit(replace_checkin(honest_urban_install(), "arrival", beyond)))


def test_v_geofence_a_fix_on_satellite_time_from_a_phone_30_minutes_fast_is_not_stale() -> None:
    fast = checkin("arrival", at(9, 58), clock_offset_s=1800)
    satellite_time = replace(fast, fix_time=at(9, 58) - timedelta(seconds=3))

    assert "v.geofence.stale_fix" not in codes(audit(replace_checkin(honest_urban_install(), "arrival", satellite_time)))


def test_e_mock_location_reported_as_mock_is_violation() -> None:
    visit = replace_checkin(honest_urban_install(), "arrival", checkin("arrival", at(9, 58), mock=True))

    mock = finding(audit(visit), "e.mock.mock_location")
    assert mock.rule_id == "E-MOCK" and mock.severity == "violation"


def test_e_mock_impossible_speed_from_the_previous_visit_is_violation() -> None:
    far_lat, far_lon = moved(30_000.0, 0.0)  # 30 km in 10 minutes: 180 km/h
    previous = NeighbourFix("prev-checkout", "visit-0", at(9, 47), far_lat, far_lon, 10.0)

    verdict = audit(honest_urban_install(), context(neighbour_fixes=(previous,)))

    speed = finding(verdict, "e.mock.impossible_speed")
    assert speed.threshold == 150.0 and speed.measured > 150.0 and speed.unit == "km/h"
    assert speed.refs == ("visit:visit-0/checkin:prev-checkout", "checkin:arrival-015700")


def test_e_mock_a_coarse_fix_in_between_does_not_hide_an_impossible_speed() -> None:
    far_lat, far_lon = moved(30_000.0, 0.0)
    previous = NeighbourFix("prev-checkout", "visit-0", at(9, 47), far_lat, far_lon, 10.0)
    vague = checkin("arrival", at(9, 52), event_id="vague-arrival", north_m=15_000.0, accuracy_m=60_000.0)
    visit = honest_urban_install()
    visit = replace(visit, checkins=(vague, *visit.checkins))

    speed = finding(audit(visit, context(neighbour_fixes=(previous,))), "e.mock.impossible_speed")
    assert speed.refs == ("visit:visit-0/checkin:prev-checkout", "checkin:arrival-015700")


def test_e_mock_a_stale_first_fix_followed_by_a_fresh_one_is_no_speed() -> None:
    cached = checkin("arrival", at(9, 56, 30), event_id="cached", north_m=12_000.0, fix_age_s=14 * 60)
    visit = honest_urban_install()  # its own arrival, fresh and at the site, follows at 09:57
    visit = replace(visit, checkins=(cached, *visit.checkins))

    assert "e.mock.impossible_speed" not in codes(audit(visit))


def test_e_mock_a_stale_fix_counts_at_the_time_it_was_taken() -> None:
    # Checked in here with an 11-minute-old fix (taken 09:46), and a minute earlier at a visit 130 km away.
    far_lat, far_lon = moved(130_000.0, 0.0)
    elsewhere = NeighbourFix("other-arrival", "visit-0", at(9, 56), far_lat, far_lon, 10.0)
    stale = checkin("arrival", at(9, 57), fix_age_s=11 * 60)
    visit = replace_checkin(honest_urban_install(), "arrival", stale)

    speed = finding(audit(visit, context(neighbour_fixes=(elsewhere,))), "e.mock.impossible_speed")
    assert speed.refs == ("checkin:arrival-015700", "visit:visit-0/checkin:other-arrival")


def test_e_mock_a_coarse_end_point_still_counts_what_its_accuracy_cannot_explain() -> None:
    far_lat, far_lon = moved(30_000.0, 0.0)
    previous = NeighbourFix("prev-checkout", "visit-0", at(9, 47), far_lat, far_lon, 10.0)
    coarse = checkin("arrival", at(9, 57), north_m=20.0, accuracy_m=150.0)  # 30 km in 10 min, give or take 160 m
    visit = replace_checkin(honest_urban_install(), "arrival", coarse)

    assert "e.mock.impossible_speed" in codes(audit(visit, context(neighbour_fixes=(previous,))))


def test_e_mock_a_plausible_drive_between_visits_is_fine() -> None:
    far_lat, far_lon = moved(30_000.0, 0.0)  # 30 km in 20 minutes: 90 km/h
    previous = NeighbourFix("prev-checkout", "visit-0", at(9, 37), far_lat, far_lon, 10.0)

    assert audit(honest_urban_install(), context(neighbour_fixes=(previous,))).findings == ()


def test_e_mock_gps_jitter_within_the_accuracy_circles_is_never_speed() -> None:
    visit = honest_urban_install()
    # 200 m apart one second later: 88 m beyond both accuracy circles, noise rather than a 300 km/h dash
    jumpy = checkin("return", at(9, 57, 1), north_m=-180.0, accuracy_m=100.0)
    visit = replace(visit, checkins=visit.checkins + (jumpy,), leaves=(LeaveFacts("l", at(9, 57), True),))

    assert "e.mock.impossible_speed" not in codes(audit(visit))


def test_e_mock_ignores_pairs_of_fixes_that_both_belong_to_other_visits() -> None:
    lat_a, lon_a = moved(50_000.0, 0.0)
    lat_b, lon_b = moved(-50_000.0, 0.0)
    unrelated = (
        NeighbourFix("a", "visit-8", at(8, 0), lat_a, lon_a, 10.0),
        NeighbourFix("b", "visit-9", at(8, 1), lat_b, lon_b, 10.0),
    )

    assert "e.mock.impossible_speed" not in codes(audit(honest_urban_install(), context(neighbour_fixes=unrelated)))


def test_v_leave_other_visits_between_two_trips_to_a_returned_visit_are_no_leave() -> None:
    visit = honest_urban_install()  # 09:57 to 11:12; an auditor returned it, and the technician came back next day
    second_trip = (checkin("arrival", at(14, 0, day=7)), checkin("checkout", at(14, 25, day=7)))
    visit = replace(visit, checkins=(*visit.checkins, *second_trip), first_completed_at=at(11, 15), **RETURNED)
    between = fix_at_another_visit(at(15, 0), north_m=5_000.0)
    during = fix_at_another_visit(at(14, 10, day=7), north_m=5_000.0)

    assert "v.leave.unrecorded" not in codes(audit(visit, context(neighbour_fixes=(between,))))
    assert "v.leave.unrecorded" in codes(audit(visit, context(neighbour_fixes=(during,))))


def test_v_leave_a_check_out_pressed_from_the_site_after_next_ends_the_visit_at_its_last_work() -> None:
    visit = honest_urban_install()  # the card, its last work, at 11:06
    from_the_site_after_next = checkin("checkout", at(12, 30), north_m=8_000.0)
    visit = replace(visit, checkins=(visit.checkins[0], from_the_site_after_next))
    next_visit, during_the_work = fix_at_another_visit(at(11, 40), 5_000.0), fix_at_another_visit(at(10, 30), 5_000.0)

    assert "v.leave.unrecorded" not in codes(audit(visit, context(neighbour_fixes=(next_visit,))))
    assert "v.leave.unrecorded" in codes(audit(visit, context(neighbour_fixes=(during_the_work,))))


def rural_repair_returning(*returns) -> VisitFacts:  # noqa: ANN002 - check-ins in place of its one return at 15:05
    visit = honest_rural_repair()
    arrival, _, checkout = visit.checkins
    return replace(visit, checkins=(arrival, *returns, checkout))


def test_v_leave_a_return_tried_again_after_one_outside_the_geofence_is_the_same_return() -> None:
    jitter = checkin("return", at(15, 4, 30), north_m=188.0, accuracy_m=20.0)
    inside = checkin("return", at(15, 5), accuracy_m=20.0)

    verdict = audit(rural_repair_returning(jitter, inside))

    assert codes(verdict, "violation") == set()


def test_v_leave_a_second_return_after_one_inside_the_geofence_needs_its_leave() -> None:
    first, second = checkin("return", at(15, 0), accuracy_m=20.0), checkin("return", at(15, 5), accuracy_m=20.0)

    assert "v.leave.unrecorded" in codes(audit(rural_repair_returning(first, second)))


def test_v_leave_a_return_long_after_one_outside_the_geofence_needs_its_leave() -> None:
    outside = checkin("return", at(14, 50), north_m=188.0, accuracy_m=20.0)
    inside = checkin("return", at(15, 5), accuracy_m=20.0)

    assert "v.leave.unrecorded" in codes(audit(rural_repair_returning(outside, inside)))


def test_v_leave_a_check_out_and_a_new_arrival_around_another_job_mid_visit_is_an_unrecorded_leave() -> None:
    visit = honest_urban_install()  # 09:57 to 11:12
    around = (checkin("checkout", at(10, 10)), checkin("arrival", at(10, 55), event_id="arrival-again"))
    visit = replace(visit, checkins=(*visit.checkins, *around))
    job_in_between = fix_at_another_visit(at(10, 30), north_m=5_000.0)

    assert "v.leave.unrecorded" in codes(audit(visit, context(neighbour_fixes=(job_in_between,))))


def test_v_leave_a_second_trip_to_a_returned_visit_checked_in_as_a_return_owes_no_leave() -> None:
    visit = honest_urban_install()
    second_trip = (checkin("return", at(14, 0, day=7)), checkin("checkout", at(14, 25, day=7)))
    visit = replace(visit, checkins=(*visit.checkins, *second_trip), first_completed_at=at(11, 15), **RETURNED)

    assert "v.leave.unrecorded" not in codes(audit(visit))


def test_v_leave_a_return_later_in_a_second_trip_without_a_leave_is_an_unrecorded_leave() -> None:
    visit = honest_urban_install()
    second_trip = (
        checkin("arrival", at(14, 0, day=7)), checkin("return", at(14, 40, day=7)),
        checkin("checkout", at(14, 45, day=7)),
    )
    visit = replace(visit, checkins=(*visit.checkins, *second_trip), first_completed_at=at(11, 15), **RETURNED)

    assert "v.leave.unrecorded" in codes(audit(visit))


def test_v_leave_a_check_out_then_a_return_in_a_second_trip_without_a_leave_is_an_unrecorded_leave() -> None:
    visit = honest_urban_install()
    second_trip = (
        checkin("arrival", at(14, 0, day=7)), checkin("checkout", at(14, 20, day=7)),
        checkin("return", at(14, 40, day=7)), checkin("checkout", at(14, 45, day=7)),
    )
    visit = replace(visit, checkins=(*visit.checkins, *second_trip), first_completed_at=at(11, 15), **RETURNED)

    assert "v.leave.unrecorded" in codes(audit(visit))


def test_v_leave_a_return_tapped_twice_within_a_minute_is_one_return() -> None:
    visit = honest_urban_install()
    twice = (checkin("return", at(10, 40)), checkin("return", at(10, 40, 10), event_id="return-again"))
    left = LeaveFacts("leave-1", at(10, 20), will_return=True)

    verdict = audit(replace(visit, checkins=(*visit.checkins, *twice), leaves=(left,)))

    assert "v.leave.unrecorded" not in codes(verdict)


def test_v_leave_a_check_out_pressed_at_the_other_job_then_a_new_arrival_here_is_an_unrecorded_leave() -> None:
    visit = honest_urban_install()  # 09:57 to 11:12
    at_the_other_job = fix_at_another_visit(at(10, 20), north_m=3_000.0)
    checkout_there = checkin("checkout", at(10, 21), north_m=3_000.0)
    back_here = checkin("arrival", at(10, 50), event_id="arrival-again")
    visit = replace(visit, checkins=(*visit.checkins, checkout_there, back_here))

    assert "v.leave.unrecorded" in codes(audit(visit, context(neighbour_fixes=(at_the_other_job,))))
