"""B-CONTACT, B-FIRST, B-INSTALL-24, B-REPAIR and B-RESCHED, with customer reschedules moving SLA references."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from fieldsvc.audit.facts import RebookingFacts
from fieldsvc.audit.rules.deadlines import credited_delay, rebookings_of, round_first_booked

from tests.unit.audit.builders import (
    arriving_at, at, audit, codes, context, finding, honest_rural_repair, honest_urban_install, reschedule,
)


def repair(tier: str = "gold", **order_changes: object):  # noqa: ANN201
    visit = honest_rural_repair()
    return replace(visit, order=replace(visit.order, tier=tier, **order_changes))


def test_b_contact_booked_exactly_at_the_tier_deadline_passes() -> None:
    visit = honest_urban_install()  # gold: 8 h
    visit = replace(visit, booked_at=visit.order.accepted_at + timedelta(hours=8))

    assert "b.contact.late" not in codes(audit(visit))


def test_b_contact_booked_after_the_tier_deadline_is_violation() -> None:
    visit = honest_urban_install()
    visit = replace(visit, booked_at=visit.order.accepted_at + timedelta(hours=8, seconds=1))

    late = finding(audit(visit), "b.contact.late")
    assert (late.rule_id, late.severity, late.threshold, late.unit) == ("B-CONTACT", "violation", 8.0, "h")
    assert late.measured == 8.0003 and "8 h 00 min 01 s (limit 8 h 00 min 00 s)" in late.message_en
    assert "8小时00分01秒" in late.message_zh


def test_b_contact_deadline_depends_on_the_tier() -> None:
    visit = honest_urban_install()
    visit = replace(visit, booked_at=visit.order.accepted_at + timedelta(hours=20))

    assert "b.contact.late" in codes(audit(replace(visit, order=replace(visit.order, tier="silver"))))
    assert "b.contact.late" not in codes(audit(replace(visit, order=replace(visit.order, tier="standard"))))


def test_b_contact_is_judged_on_the_first_visit_of_the_order_only() -> None:
    visit = honest_urban_install()
    visit = replace(visit, booked_at=visit.order.accepted_at + timedelta(hours=30),
                    order=replace(visit.order, first_visit_id="an-earlier-visit"))

    assert "b.contact.late" not in codes(audit(visit))


def test_b_contact_counts_to_the_orders_first_booking_when_a_visit_was_cancelled_and_booked_again() -> None:
    visit = honest_urban_install()  # gold: 8 h
    accepted = visit.order.accepted_at
    rebooked = replace(visit, booked_at=accepted + timedelta(hours=25),
                       order=replace(visit.order, first_booked_at=accepted + timedelta(hours=1)))

    assert "b.contact.late" not in codes(audit(rebooked))


def test_b_first_counts_to_the_orders_first_booking_when_a_visit_was_cancelled_and_booked_again() -> None:
    accepted = at(9, 40)
    rebooked = replace(repair(first_booked_at=accepted + timedelta(minutes=30), first_contact_at=None),
                       booked_at=accepted + timedelta(hours=3))

    assert "b.first.late" not in codes(audit(rebooked))


def test_b_first_repair_response_within_two_hours_passes_and_later_is_violation() -> None:
    accepted = at(9, 40)
    on_time = repair(first_contact_at=accepted + timedelta(hours=2))
    late = replace(repair(first_contact_at=accepted + timedelta(hours=2, minutes=1)), booked_at=at(12, 0))

    assert "b.first.late" not in codes(audit(replace(on_time, booked_at=at(12, 0))))
    first = finding(audit(late), "b.first.late")
    assert first.measured == 2.0167 and first.threshold == 2.0
    assert first.message_en == "first response to the fault report after 2 h 01 min 00 s (limit 2 h 00 min 00 s)"


def test_b_repair_resolved_after_the_tier_deadline_is_violation() -> None:
    visit = repair(tier="gold", resolved_at=at(9, 41, day=7))  # accepted 9:40 on the 6th, gold 24 h

    late = finding(audit(visit), "b.repair.late")
    assert (late.threshold, late.measured) == (24.0, 24.0167)


def test_b_repair_standard_tier_has_48_hours() -> None:
    visit = repair(tier="standard", resolved_at=at(9, 41, day=7))

    assert "b.repair.late" not in codes(audit(visit))


def test_b_repair_unresolved_past_the_deadline_is_overdue_as_of_now() -> None:
    visit = repair(tier="gold", resolved_at=None)

    assert "b.repair.overdue" not in codes(audit(visit, context(now=at(9, 40, day=7))))
    overdue = finding(audit(visit, context(now=at(9, 41, day=7))), "b.repair.overdue")
    assert (overdue.measured, overdue.threshold) == ("unresolved at the deadline", 24.0)


def test_b_repair_an_overdue_finding_is_the_same_however_late_the_audit_runs() -> None:
    visit = repair(tier="gold", resolved_at=None)

    just_after = audit(visit, context(now=at(9, 41, day=7)))
    weeks_later = audit(visit, context(now=at(9, 41, day=31)))

    assert finding(just_after, "b.repair.overdue") == finding(weeks_later, "b.repair.overdue")


def test_b_repair_customer_initiated_reschedule_moves_the_sla_reference() -> None:
    visit = repair(tier="gold", resolved_at=at(13, 0, day=7))  # 27 h 20 min after acceptance
    moved = reschedule(visit, at(18, 0), initiator="customer", recorded_at=at(11, 0))  # 14:00 -> 18:00

    assert "b.repair.late" in codes(audit(visit))
    assert "b.repair.late" not in codes(audit(moved))


def test_b_repair_a_customers_move_recorded_after_the_deadline_had_passed_does_not_move_it() -> None:
    visit = repair(tier="gold", resolved_at=at(13, 0, day=7))  # 27 h 20 min after acceptance; due 9:40 on the 7th
    moved = reschedule(visit, at(18, 0, day=7), initiator="customer", recorded_at=at(9, 41, day=7))

    assert "b.repair.late" in codes(audit(moved))


def test_b_repair_a_customers_move_recorded_inside_a_deadline_earlier_moves_pushed_moves_it_again() -> None:
    visit = repair(tier="gold", resolved_at=at(11, 0, day=8))  # due 9:40 on the 7th, +2 h, then +24 h
    first = reschedule(visit, at(16, 0), initiator="customer", recorded_at=at(11, 0))
    second = reschedule(first, at(16, 0, day=7), initiator="customer", recorded_at=at(11, 0, day=7))

    assert "b.repair.late" not in codes(audit(second))


def test_b_repair_a_customer_moving_the_visit_earlier_and_back_does_not_move_the_sla_reference() -> None:
    visit = repair(tier="gold", resolved_at=at(13, 0, day=7))  # 27 h 20 min after acceptance; booked for 14:00
    earlier = reschedule(visit, at(10, 0), initiator="customer", recorded_at=at(9, 0))
    back = reschedule(earlier, at(14, 0), initiator="customer", recorded_at=at(9, 30))

    assert "b.repair.late" in codes(audit(back))


def test_b_repair_a_customer_move_the_company_took_back_does_not_move_the_sla_reference() -> None:
    visit = repair(tier="gold", resolved_at=at(13, 0, day=7))  # 27 h 20 min after acceptance; booked for 14:00
    out = reschedule(visit, at(18, 0), initiator="customer", recorded_at=at(9, 0))
    back = reschedule(out, at(14, 0), initiator="company", recorded_at=at(9, 30))

    assert "b.repair.late" in codes(audit(back))


def test_b_repair_a_company_move_out_again_after_taking_a_customers_move_back_does_not_move_the_sla_reference() -> None:
    visit = repair(tier="gold", resolved_at=at(13, 0, day=7))  # 27 h 20 min after acceptance; booked for 14:00
    out = reschedule(visit, at(18, 0), initiator="customer", recorded_at=at(9, 0))
    back = reschedule(out, at(14, 0), initiator="company", recorded_at=at(9, 30))
    out_again = reschedule(back, at(18, 0), initiator="company", recorded_at=at(10, 0), reason_code="parts_unavailable")

    assert "b.repair.late" in codes(audit(out_again))


def test_b_repair_a_customers_move_undone_by_cancelling_and_booking_again_at_the_first_time_does_not_move_it() -> None:
    visit = repair(tier="gold", resolved_at=at(13, 0, day=7))  # 27 h 20 min after acceptance; booked for 14:00
    out = reschedule(visit, at(18, 0), initiator="customer", recorded_at=at(9, 0))
    booked_again = rebookings_of([
        (visit.visit_id, at(8, 0), at(14, 0), at(18, 0)),  # id, booked at, first agreed time, agreed time
        ("v2", at(9, 30), at(14, 0), at(14, 0)),
    ])

    assert "b.repair.late" in codes(audit(replace(out, order=replace(out.order, rebookings=booked_again))))


def test_b_repair_a_visit_booked_again_counts_as_the_companys_move_from_the_last_ones_time_in_booking_order() -> None:
    first = ("v1", at(8, 0), at(14, 0), at(18, 0))  # id, booked at, first agreed time, agreed time
    second = ("v2", at(9, 0), at(20, 0), at(20, 0))
    third = ("v3", at(9, 30), at(15, 0), at(15, 0))

    assert rebookings_of([third, first, second]) == (
        RebookingFacts("v2", previous_time=at(18, 0), agreed_time=at(20, 0)),
        RebookingFacts("v3", previous_time=at(20, 0), agreed_time=at(15, 0)),
    )


CUSTOMER, COMPANY = True, False


def test_b_repair_a_company_move_back_takes_back_the_customers_delay_before_the_companys_own_earlier_one() -> None:
    moves = [(timedelta(hours=10), COMPANY), (timedelta(hours=24), CUSTOMER), (timedelta(hours=-24), COMPANY)]

    assert credited_delay(moves) == timedelta(0)  # the visit is where the company had put it


def test_b_repair_a_company_taking_back_its_own_delay_keeps_the_customers_before_it() -> None:
    moves = [(timedelta(hours=24), CUSTOMER), (timedelta(hours=24), COMPANY), (timedelta(hours=-24), COMPANY)]

    assert credited_delay(moves) == timedelta(hours=24)  # the visit is where the customer asked


def test_b_repair_the_customer_moving_the_companys_delay_back_and_out_again_is_credited_nothing() -> None:
    moves = [(timedelta(hours=24), COMPANY), (timedelta(hours=-24), CUSTOMER), (timedelta(hours=24), CUSTOMER)]

    assert credited_delay(moves) == timedelta(0)  # the customer's moves add up to nothing


def test_b_repair_a_visit_moved_before_its_first_time_is_made_up_before_a_customers_move_delays_anything() -> None:
    moves = [(timedelta(hours=-10), COMPANY), (timedelta(hours=24), CUSTOMER)]

    assert credited_delay(moves) == timedelta(hours=14)


def test_b_repair_a_company_move_after_the_customers_keeps_the_customers_delay() -> None:
    visit = repair(tier="gold", resolved_at=at(13, 0, day=7))  # 27 h 20 min after acceptance; booked for 14:00
    out = reschedule(visit, at(18, 0), initiator="customer", recorded_at=at(9, 0))
    later = reschedule(out, at(19, 0), initiator="company", recorded_at=at(9, 30))

    assert "b.repair.late" not in codes(audit(later))


def test_b_repair_a_customer_moving_the_visit_earlier_does_not_shorten_the_deadline() -> None:
    visit = repair(tier="gold", resolved_at=at(9, 0, day=7))  # 23 h 20 min after acceptance
    earlier = reschedule(visit, at(10, 0), initiator="customer", recorded_at=at(9, 0))

    assert "b.repair.late" not in codes(audit(earlier))


def test_b_repair_company_initiated_reschedule_does_not_move_the_sla_reference() -> None:
    visit = repair(tier="gold", resolved_at=at(13, 0, day=7))
    moved = reschedule(visit, at(18, 0), initiator="company", recorded_at=at(11, 0), reason_code="parts_unavailable")

    assert "b.repair.late" in codes(audit(moved))


def test_b_repair_unconfirmed_customer_reschedule_does_not_move_the_sla_reference() -> None:
    visit = repair(tier="gold", resolved_at=at(13, 0, day=7))
    moved = reschedule(visit, at(18, 0), initiator="customer", recorded_at=at(11, 0), confirmed=False)

    assert "b.repair.late" in codes(audit(moved))


def install_booked_hours_before(hours: float, **visit_changes: object):  # noqa: ANN201
    visit = honest_urban_install()
    booked = visit.agreed_time - timedelta(hours=hours)
    visit = replace(visit, booked_at=booked, order=replace(visit.order, accepted_at=booked - timedelta(hours=1)))
    return replace(visit, **visit_changes)


def test_b_install_24_scheduled_exactly_24_hours_after_booking_passes() -> None:
    assert audit(install_booked_hours_before(24)).findings == ()


def test_b_install_24_scheduled_later_without_a_reason_is_violation() -> None:
    late = finding(audit(install_booked_hours_before(24.5)), "b.install_24.late")

    assert (late.rule_id, late.measured, late.threshold) == ("B-INSTALL-24", 24.5, 24.0)


def test_b_install_24_counts_from_the_orders_first_booking_when_a_visit_was_cancelled_and_booked_again() -> None:
    rebooked = install_booked_hours_before(20)
    first = rebooked.booked_at - timedelta(hours=23)
    rebooked = replace(rebooked, order=replace(rebooked.order, first_booked_at=first, accepted_at=first))

    late = finding(audit(rebooked), "b.install_24.late")
    assert (late.measured, late.threshold) == (43.0, 24.0)


@pytest.mark.parametrize("status", ["completed", "returned"])
def test_b_install_24_a_visit_booked_after_one_done_on_site_starts_its_own_round(status: str) -> None:
    first = install_booked_hours_before(20).booked_at
    earlier = [{"booked_at": first, "status": "cancelled"}, {"booked_at": first + timedelta(hours=1), "status": status}]
    assert round_first_booked(first + timedelta(hours=30), earlier) == first + timedelta(hours=30)


def test_b_install_24_a_visit_booked_after_one_cancelled_keeps_the_rounds_first_booking() -> None:
    first = install_booked_hours_before(20).booked_at
    assert round_first_booked(first + timedelta(hours=30), [{"booked_at": first, "status": "cancelled"}]) == first


def test_b_install_24_customer_requested_later_time_passes() -> None:
    assert audit(install_booked_hours_before(72, install_late_reason="customer_requested")).findings == ()


def test_b_install_24_a_company_move_after_the_customers_later_time_is_violation() -> None:
    visit = install_booked_hours_before(28, install_late_reason="customer_requested")
    recorded = visit.booked_at + timedelta(hours=1)
    by_company = reschedule(visit, visit.agreed_time + timedelta(days=4), initiator="company", recorded_at=recorded,
                            reason_code="technician_unavailable")
    by_customer = reschedule(visit, visit.agreed_time + timedelta(days=4), initiator="customer", recorded_at=recorded)
    company_earlier = reschedule(visit, visit.agreed_time - timedelta(hours=8), initiator="company",
                                 recorded_at=recorded, reason_code="technician_unavailable")

    late = finding(audit(by_company), "b.install_24.late")
    assert (late.measured, late.threshold) == (24.0 + 96.0, 24.0)  # the customer's 4 h past the 24 h are theirs
    assert "B-INSTALL-24" not in {f.rule_id for f in audit(by_customer).findings}
    assert "B-INSTALL-24" not in {f.rule_id for f in audit(company_earlier).findings}


def test_b_install_24_message_gives_the_real_span_and_the_customers_credit_beside_the_figure_counted() -> None:
    visit = install_booked_hours_before(30, install_late_reason="customer_requested")
    moved = reschedule(visit, visit.agreed_time + timedelta(hours=1), initiator="company",
                       recorded_at=visit.booked_at + timedelta(hours=1), reason_code="technician_unavailable")

    late = finding(audit(moved), "b.install_24.late")
    assert late.measured == 25.0
    assert late.message_en == (
        "install visit scheduled at booking + 31 h 00 min 00 s, less 6 h 00 min 00 s the customer asked for: "
        "counted 25 h 00 min 00 s (limit 24 h 00 min 00 s)"
    )
    assert "31小时00分00秒" in late.message_zh and "6小时00分00秒" in late.message_zh


def test_b_install_24_resource_unavailable_needs_the_customer_notified_within_24_hours() -> None:
    visit = install_booked_hours_before(72, install_late_reason="resource_unavailable")
    notified = replace(visit, customer_notified_at=visit.booked_at + timedelta(hours=24))
    too_late = replace(visit, customer_notified_at=visit.booked_at + timedelta(hours=25))

    assert audit(notified).findings == ()
    assert "b.install_24.not_notified" in codes(audit(visit))
    assert "b.install_24.not_notified" in codes(audit(too_late))


def test_b_install_24_a_reschedule_for_unavailable_resources_told_within_24_hours_passes() -> None:
    visit = install_booked_hours_before(2)
    later = visit.agreed_time + timedelta(hours=24)
    told = visit.booked_at + timedelta(minutes=30)
    moved = reschedule(visit, later, initiator="company", recorded_at=told, reason_code="resource_unavailable")
    unconfirmed = reschedule(visit, later, initiator="company", recorded_at=told, reason_code="resource_unavailable",
                             confirmed=False)

    assert "B-INSTALL-24" not in {f.rule_id for f in audit(moved).findings}
    assert "b.install_24.not_notified" in codes(audit(unconfirmed))


def test_b_install_24_customer_reschedule_moves_the_sla_reference_company_one_does_not() -> None:
    visit = install_booked_hours_before(20)
    recorded = visit.booked_at + timedelta(hours=1)
    by_customer = reschedule(visit, visit.agreed_time + timedelta(hours=48), initiator="customer", recorded_at=recorded)
    by_company = reschedule(visit, visit.agreed_time + timedelta(hours=48), initiator="company", recorded_at=recorded,
                            reason_code="technician_unavailable")

    assert "b.install_24.late" not in codes(audit(by_customer))
    assert "b.install_24.late" in codes(audit(by_company))


def test_b_resched_compliant_reschedule_has_no_finding() -> None:
    visit = reschedule(honest_urban_install(), at(10, 0), initiator="company", recorded_at=at(9, 0),
                       reason_code="weather")

    assert "B-RESCHED" not in {f.rule_id for f in audit(visit).findings}


def test_b_resched_company_reschedule_with_short_notice_is_violation() -> None:
    visit = reschedule(honest_urban_install(), at(10, 0), initiator="company", recorded_at=at(9, 0, 1),
                       reason_code="weather")

    noncompliant = finding(audit(visit), "b.resched.noncompliant")
    assert noncompliant.severity == "violation" and noncompliant.measured == 0.9997 and noncompliant.threshold == 1.0
    assert "recorded 0 h 59 min 59 s before the original appointment (needs 1 h 00 min 00 s)" in noncompliant.message_en


def test_b_resched_customers_own_short_notice_request_is_a_warning_by_default() -> None:
    visit = reschedule(honest_urban_install(), at(10, 0), initiator="customer", recorded_at=at(9, 30))

    verdict = audit(visit)
    assert finding(verdict, "b.resched.noncompliant").severity == "warning"
    assert verdict.status == "passed"


def test_b_resched_a_customer_reschedule_recorded_after_the_appointment_had_begun_is_violation() -> None:
    moved = reschedule(honest_urban_install(), at(10, 25), initiator="customer", recorded_at=at(10, 12))
    verdict = audit(arriving_at(moved, at(10, 22)))

    noncompliant = finding(verdict, "b.resched.noncompliant")
    assert noncompliant.severity == "violation" and verdict.status == "flagged"
    assert "recorded 0 h 12 min 00 s after the original appointment had begun" in noncompliant.message_en


def test_b_resched_without_customer_confirmation_is_violation_even_from_the_customer() -> None:
    visit = reschedule(honest_urban_install(), at(10, 0), initiator="customer", recorded_at=at(8, 0), confirmed=False)

    noncompliant = finding(audit(visit), "b.resched.noncompliant")
    assert noncompliant.severity == "violation" and "confirmation" in noncompliant.message_en


def test_b_resched_a_move_unconfirmed_with_enough_notice_measures_what_is_missing_not_the_notice() -> None:
    visit = reschedule(honest_urban_install(), at(10, 0), initiator="customer", recorded_at=at(8, 0), confirmed=False)

    noncompliant = finding(audit(visit), "b.resched.noncompliant")
    assert (noncompliant.measured, noncompliant.unit) == ("the customer's confirmation is not recorded", None)
    assert "confirmed by the customer" in noncompliant.threshold


def test_b_resched_needs_a_known_reason_code_and_a_note_for_other() -> None:
    unknown = reschedule(honest_urban_install(), at(10, 0), initiator="company", recorded_at=at(8, 0),
                         reason_code="felt_like_it")
    other = reschedule(honest_urban_install(), at(10, 0), initiator="company", recorded_at=at(8, 0),
                       reason_code="other")
    other_noted = reschedule(honest_urban_install(), at(10, 0), initiator="company", recorded_at=at(8, 0),
                             reason_code="other", note="road closed for a parade")

    assert "no valid reason code" in finding(audit(unknown), "b.resched.noncompliant").message_en
    assert "without a note" in finding(audit(other), "b.resched.noncompliant").message_en
    assert "b.resched.noncompliant" not in codes(audit(other_noted))


def test_b_resched_only_judges_this_visits_reschedules() -> None:
    visit = reschedule(honest_urban_install(), at(10, 0), initiator="company", recorded_at=at(9, 59))
    elsewhere = replace(visit.order.reschedules[0], visit_id="another-visit")
    visit = replace(visit, order=replace(visit.order, reschedules=(elsewhere,)))

    assert "b.resched.noncompliant" not in codes(audit(visit))
