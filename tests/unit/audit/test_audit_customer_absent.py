"""V-CLOSE with the customer not at home: a wait at the site, only check-in and check-out, nothing showing them there."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from fieldsvc.audit import missing_for_closure
from fieldsvc.audit.facts import (
    AskFacts, CardFacts, CompletionFacts, LeaveFacts, NoteFacts, PhoneBoot, ServiceTestFacts, SignatureFacts, StepFacts,
    VisitFacts,
)

from tests.unit.audit.builders import (
    AGREED, SUMMARY_DIGEST, at, audit, checkin, codes, finding, honest_urban_install, order, photo, policy_for,
)

ARRIVED = at(9, 57)
ABSENT = CompletionFacts("completion-1", "unresolved", reason="Nobody home, phone off", customer_absent=True)


def absent_visit(waited: timedelta = timedelta(minutes=15), north_m: float = 20.0) -> VisitFacts:
    """Came on time, knocked, called, waited `waited` past the agreed time, checked out: no work, so no photo, test,
    signature or card."""
    return replace(
        honest_urban_install(),
        order=order(resolved_at=None),
        checkins=(checkin("arrival", ARRIVED, north_m=north_m), checkin("checkout", AGREED + waited, fix_age_s=0.0)),
        steps=(), photos=(), tests=(), signature=None, card=None, completion=ABSENT,
    )


def test_v_close_customer_absent_after_the_policys_wait_passes_and_shows_the_wait() -> None:
    verdict = audit(absent_visit(timedelta(minutes=15)))

    assert verdict.status == "passed"
    shown = finding(verdict, "v.close.customer_absent")
    assert (shown.severity, shown.measured, shown.threshold) == ("info", 15.0, 10.0)


def test_v_close_customer_absent_after_exactly_the_policys_wait_passes() -> None:
    assert audit(absent_visit(timedelta(minutes=10))).status == "passed"


def test_v_close_customer_absent_after_a_wait_one_second_short_is_violation() -> None:
    verdict = audit(absent_visit(timedelta(minutes=9, seconds=59)))

    assert verdict.status == "flagged"
    assert codes(verdict, "violation") == {"v.close.absent_wait_short"}


def test_v_close_customer_absent_the_wait_counts_from_the_agreed_time_when_the_technician_came_early() -> None:
    visit = absent_visit(timedelta(minutes=20))
    early = replace(visit, checkins=(checkin("arrival", at(9, 45)), checkin("checkout", at(10, 5), fix_age_s=0.0)))

    shown = finding(audit(early), "v.close.absent_wait_short")

    assert (shown.measured, shown.threshold) == (5.0, 10.0)


def waited_then_checked_out(*checkouts) -> VisitFacts:  # noqa: ANN002 - check-outs after an arrival at 09:57
    return replace(absent_visit(), checkins=(checkin("arrival", ARRIVED), *checkouts))


def test_v_close_customer_absent_a_check_out_at_the_van_ends_the_wait() -> None:
    at_the_van = checkin("checkout", at(10, 12), north_m=185.0, accuracy_m=10.0, fix_age_s=0.0)

    assert finding(audit(waited_then_checked_out(at_the_van)), "v.close.customer_absent").measured == 12.0


def test_v_close_customer_absent_a_check_out_pressed_from_afar_shows_no_wait_after_the_last_check_in_at_the_site() -> None:
    from_the_next_job = checkin("checkout", at(10, 25), north_m=5_000.0)

    shown = finding(audit(waited_then_checked_out(from_the_next_job)), "v.close.absent_wait_short")

    assert shown.measured == 0.0


@pytest.mark.parametrize(
    "checkouts",
    [
        (checkin("checkout", at(10, 15), north_m=30.0, accuracy_m=150.0, fix_age_s=0.0),),
        (checkin("checkout", at(10, 15), north_m=190.0, accuracy_m=120.0, fix_age_s=0.0),),
        (checkin("checkout", at(10, 14, 20), north_m=240.0, accuracy_m=10.0, fix_age_s=0.0),
         checkin("checkout", at(10, 15), north_m=150.0, accuracy_m=10.0, fix_age_s=0.0)),
    ],
    ids=["indoor-fix-at-the-door", "coarse-fix-at-the-van", "jitter-at-the-van-tapped-again"],
)
def test_v_close_customer_absent_a_check_out_by_the_site_ends_the_wait_however_its_fix_came(checkouts) -> None:  # noqa: ANN001
    assert finding(audit(waited_then_checked_out(*checkouts)), "v.close.customer_absent").measured == 15.0


def test_v_close_customer_absent_the_wait_ends_when_the_check_outs_location_fix_was_taken() -> None:
    stale_from_the_door = checkin("checkout", at(10, 10, 30), fix_age_s=9.5 * 60)  # GPS off since 10:01

    assert finding(audit(waited_then_checked_out(stale_from_the_door)), "v.close.absent_wait_short").measured == 1.0


def test_v_close_customer_absent_a_check_out_fix_dated_after_its_tap_does_not_stretch_the_wait() -> None:
    fix_made_up_ahead = checkin("checkout", at(10, 0, 30), fix_age_s=-30 * 60)  # the fix "taken" 30 min after the tap

    shown = finding(audit(waited_then_checked_out(fix_made_up_ahead)), "v.close.absent_wait_short")

    assert shown.measured == 0.5  # to the tap at 10:00:30


def test_v_close_customer_absent_a_clock_set_back_before_the_check_out_does_not_stretch_the_wait() -> None:
    # Tapped at 10:00:30 on a clock set 10 min back (the offset measured puts it right), the fix on satellite time.
    set_back = replace(
        checkin("checkout", at(10, 0, 30), clock_offset_s=-600.0, fix_age_s=-600.0), fix_time=at(10, 0, 30)
    )

    assert finding(audit(waited_then_checked_out(set_back)), "v.close.absent_wait_short").measured == 0.5


def test_v_close_customer_absent_a_check_out_held_back_and_dated_by_its_receipt_ends_the_wait_at_its_fix() -> None:
    tapped = checkin("checkout", at(10, 1), fix_age_s=0.0)
    held_back = replace(tapped, corrected_time=tapped.device_time, received_at=at(10, 12))  # then counted at receipt
    visit = replace(waited_then_checked_out(held_back), checkins=(
        replace(checkin("arrival", ARRIVED), device_elapsed_ms=3_600_000, by_monotonic=True), held_back,
    ), boots=(PhoneBoot(ARRIVED - timedelta(hours=1)),))  # its monotonic time left off: counted at its receipt

    assert finding(audit(visit), "v.close.absent_wait_short").measured == 1.0


def test_v_close_customer_absent_time_away_on_a_leave_dated_before_the_arrival_is_no_wait() -> None:
    visit = waited_then_checked_out(checkin("return", at(10, 9), fix_age_s=0.0), checkin("checkout", at(10, 12)))
    visit = replace(visit, leaves=(LeaveFacts("leave-1", at(9, 55), will_return=True),))  # really at 10:01

    shown = finding(audit(visit), "v.close.absent_wait_short")

    assert shown.measured == 2.92  # 10:09 to the check-out's fix at 10:11:55


def test_v_close_customer_absent_a_visit_returned_for_a_short_wait_is_put_right_by_waiting_on_a_second_trip() -> None:
    visit = second_trip(absent_visit(timedelta(minutes=6)))

    shown = finding(audit(visit), "v.close.customer_absent")

    assert (shown.measured, shown.refs[1]) == (17.92, f"checkin:{visit.checkins[2].event_id}")  # 09:57 to the fix


def test_v_close_customer_absent_a_phone_running_fast_with_a_satellite_timed_fix_keeps_its_whole_wait() -> None:
    fast = 300.0  # the wall clock 5 min ahead, measured at the sync; the fix timed by the satellites, 10 s old
    checkout = replace(checkin("checkout", at(10, 15), clock_offset_s=fast), fix_time=at(10, 14, 50))
    visit = replace(absent_visit(), checkins=(checkin("arrival", at(10, 0), clock_offset_s=fast), checkout))

    assert finding(audit(visit), "v.close.customer_absent").measured == 14.83


def test_v_close_customer_absent_a_check_out_held_back_on_a_clock_set_ahead_ends_the_wait_at_its_fix() -> None:
    # Tapped at 10:02 on a clock 12 min ahead (the fix on that clock too), sent at 10:11 without its monotonic time.
    ahead = checkin("checkout", at(10, 2), clock_offset_s=720.0, fix_age_s=0.0)
    held_back = replace(ahead, received_at=at(10, 11))
    visit = replace(waited_then_checked_out(held_back), checkins=(
        replace(checkin("arrival", ARRIVED), device_elapsed_ms=3_600_000, by_monotonic=True), held_back,
    ), boots=(PhoneBoot(ARRIVED - timedelta(hours=1)),))

    assert finding(audit(visit), "v.close.absent_wait_short").measured == 2.0


def test_v_close_customer_absent_a_held_back_check_out_with_its_fix_dated_at_the_send_ends_at_its_tap() -> None:
    tapped = checkin("checkout", at(10, 1), fix_age_s=0.0)
    fix_at_the_send = replace(tapped, fix_time=at(10, 12), received_at=at(10, 12))

    assert finding(audit(waited_then_checked_out(fix_at_the_send)), "v.close.absent_wait_short").measured == 1.0


def test_v_close_customer_absent_a_second_trip_with_a_coarse_indoor_fix_at_the_door_counts() -> None:
    visit = second_trip(absent_visit(timedelta(minutes=6)))
    coarse = replace(visit.checkins[2], accuracy_m=150.0)

    verdict = audit(replace(visit, checkins=(*visit.checkins[:2], coarse, visit.checkins[3])))

    assert finding(verdict, "v.close.customer_absent").measured == 17.92


def second_trip(first_trip: VisitFacts, began_as: str = "arrival") -> VisitFacts:
    """The first trip returned by an auditor; the technician goes back the next day and waits 15 min."""
    next_day = timedelta(days=1)
    trip = (checkin(began_as, ARRIVED + next_day), checkin("checkout", AGREED + next_day + timedelta(minutes=15)))
    return replace(
        first_trip, checkins=first_trip.checkins + trip, first_completed_at=AGREED + timedelta(minutes=7),
        first_returned_at=AGREED + timedelta(hours=2),
    )


@pytest.mark.parametrize("began_as", ["arrival", "return"])
def test_v_close_customer_absent_a_second_trip_counts_whether_tapped_as_an_arrival_or_a_return(began_as: str) -> None:
    verdict = audit(second_trip(absent_visit(timedelta(minutes=6)), began_as))

    assert finding(verdict, "v.close.customer_absent").measured == 17.92
    assert verdict.status == "passed"


@pytest.mark.parametrize(
    "first_tap",
    [checkin("arrival", ARRIVED + timedelta(days=1, minutes=-10), north_m=1_500.0),
     checkin("arrival", ARRIVED + timedelta(days=1, seconds=-30), north_m=200.0, accuracy_m=10.0),
     checkin("arrival", ARRIVED + timedelta(days=1, seconds=-20), fix_age_s=30 * 60)],
    ids=["tapped-en-route", "gps-jitter", "stale-cached-fix"],
)
def test_v_close_customer_absent_a_second_trip_counts_from_its_check_in_at_the_door(first_tap) -> None:  # noqa: ANN001
    visit = second_trip(absent_visit(timedelta(minutes=6)))
    visit = replace(visit, checkins=(*visit.checkins[:2], first_tap, *visit.checkins[2:]))

    assert finding(audit(visit), "v.close.customer_absent").measured == 17.92


def test_v_close_customer_absent_a_later_arrival_without_an_auditors_return_is_no_second_trip() -> None:
    visit = replace(second_trip(absent_visit(timedelta(minutes=6))), first_returned_at=None)

    assert finding(audit(visit), "v.close.absent_wait_short").measured == 6.0


def test_v_close_customer_absent_a_trip_dated_before_the_auditors_return_puts_nothing_right() -> None:
    visit = replace(second_trip(absent_visit(timedelta(minutes=6))), first_returned_at=AGREED + timedelta(days=2))

    assert finding(audit(visit), "v.close.absent_wait_short").measured == 6.0


def test_v_close_customer_absent_a_leave_of_the_first_trip_takes_nothing_from_the_second_trips_wait() -> None:
    first_trip = absent_visit(timedelta(minutes=6))
    promised = AGREED + timedelta(days=2)
    gone = LeaveFacts("leave-1", AGREED + timedelta(minutes=5), will_return=False, restore_by=promised)

    verdict = audit(replace(second_trip(first_trip), leaves=(gone,)))

    assert finding(verdict, "v.close.customer_absent").measured == 17.92


def test_v_close_customer_absent_a_re_tap_after_a_coarse_check_out_from_afar_shows_no_wait_after_leaving() -> None:
    from_afar = checkin("checkout", at(10, 3), north_m=2_000.0, accuracy_m=1_900.0)

    verdict = audit(waited_then_checked_out(from_afar, checkin("checkout", at(10, 12))))

    assert finding(verdict, "v.close.absent_wait_short").measured == 0.0


def test_v_close_customer_absent_time_away_on_a_recorded_leave_is_no_wait() -> None:
    visit = waited_then_checked_out(checkin("return", at(10, 11), fix_age_s=0.0), checkin("checkout", at(10, 12)))
    visit = replace(visit, leaves=(LeaveFacts("leave-1", at(10, 1), will_return=True),))

    shown = finding(audit(visit), "v.close.absent_wait_short")

    assert shown.measured == 1.92  # 10:00 to 10:01, then 10:11 to the check-out's fix at 10:11:55


def test_v_close_customer_absent_a_check_out_from_afar_then_again_at_the_site_shows_no_wait_after_leaving() -> None:
    from_afar, back_at_the_site = checkin("checkout", at(10, 3), north_m=2_000.0), checkin("checkout", at(10, 12))

    shown = finding(audit(waited_then_checked_out(from_afar, back_at_the_site)), "v.close.absent_wait_short")

    assert shown.measured == 0.0


def test_v_close_customer_absent_a_later_check_out_does_not_stretch_the_wait() -> None:
    first, from_home_later = checkin("checkout", at(10, 4), fix_age_s=0.0), checkin("checkout", at(12, 0), north_m=50.0)

    assert finding(audit(waited_then_checked_out(first, from_home_later)), "v.close.absent_wait_short").measured == 4.0


def test_v_close_customer_absent_needs_only_the_check_in_and_the_check_out() -> None:
    visit = absent_visit()
    without_checkout = replace(visit, checkins=visit.checkins[:1])

    assert missing_for_closure(visit, policy_for(visit)) == []
    assert [item.rule_id for item in missing_for_closure(without_checkout, policy_for(visit))] == ["V-CHECKOUT"]


def test_v_close_customer_absent_under_a_policy_version_without_a_wait_needs_every_item() -> None:
    visit = absent_visit()
    older = replace(policy_for(visit), customer_absent_wait_min=None)

    missing = [item.rule_id for item in missing_for_closure(visit, older)]

    assert missing == ["V-ID", "V-SHOES", "V-MAT", "V-TEST", "V-CLEAN", "V-SIGN", "V-CARD"]


@pytest.mark.parametrize(
    "seen",
    [
        {"signature": SignatureFacts("signature-1", "Li Wei", 0.04, at(10, 5), SUMMARY_DIGEST, SUMMARY_DIGEST)},
        {"tests": (ServiceTestFacts("test-1", at(10, 3), True, download_mbps=500.0),)},
        {"steps": (StepFacts("step-consent", "V-CONSENT", at(10, 1), note="moved the sofa"),)},
        {"asks": (AskFacts("ask-1", at(10, 2), "When is fibre coming?", "Li Wei", "+86 138", "Room 5"),)},
        {"steps": (StepFacts("step-mat", "V-MAT", at(10, 1)),)},
        {"photos": (photo("shoe_covers", at(10, 1)),)},
        {"photos": (photo("site_clean", at(10, 6)),)},
        {"photos": (photo("after", at(10, 6)),)},
        {"steps": (StepFacts("step-id", "V-ID", at(9, 58)),)},
        {"steps": (StepFacts("step-shoes", "V-SHOES", at(9, 59), note="customer said no need"),)},
        {"notes": (NoteFacts("note-shoes", "V-SHOES", "customer said no need", at(9, 59)),)},
        {"card": CardFacts("card-1", at(10, 6), "Zhang San", "T-1024", "+86 138 0000 0000", "10000", "leaflet")},
        {"completion": replace(ABSENT, terminal_explanation="Router faulty; showed the reset", terminal_help_given=True)},
        {"completion": replace(ABSENT, terminal_help_given=True)},
    ],
    ids=["signed", "accepted-a-test", "gave-consent", "asked-a-question", "tools-on-the-mat", "shoe-covers-on",
         "site-cleaned", "after-photo", "work-id-shown-at-the-door", "shoe-cover-reason-step", "shoe-cover-reason-note",
         "service-card-handed-over", "equipment-fault-explained-to-the-customer", "help-given-to-the-customer"],
)
def test_v_close_customer_absent_yet_a_fact_only_the_customer_makes_is_violation(seen: dict) -> None:
    verdict = audit(replace(absent_visit(), **seen))

    assert "v.close.absent_contradicted" in codes(verdict, "violation")


def test_v_close_customer_absent_with_a_photo_of_the_closed_door_and_a_line_test_from_outside_passes() -> None:
    door = photo("before", at(10, 2))
    refused_line_test = ServiceTestFacts("test-1", at(10, 4), False, download_mbps=0.0)

    verdict = audit(replace(absent_visit(), photos=(door,), tests=(refused_line_test,)))

    assert verdict.status == "passed"


def test_v_geofence_customer_absent_claimed_from_two_km_away_is_flagged() -> None:
    verdict = audit(absent_visit(north_m=2000.0))

    assert verdict.status == "flagged"
    assert "v.geofence.outside" in codes(verdict, "violation")
