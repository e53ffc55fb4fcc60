"""Step confirmations (V-ID, V-MAT, V-CONSENT), V-TEST, V-TERMINAL, V-CARD, V-ASK, V-CLOSE and missing items."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from fieldsvc.audit import missing_for_closure
from fieldsvc.audit.closure import ITEM_CHECKS
from fieldsvc.audit.facts import AskFacts, CompletionFacts, ServiceTestFacts, StepFacts, VisitFacts
from fieldsvc.audit.policy import CLOSURE_ITEMS

from tests.unit.audit.builders import (
    at, audit, checkin, codes, context, finding, honest_rural_repair, honest_urban_install, policy_for,
)


def test_v_id_missing_is_violation_once_completed() -> None:
    visit = replace(honest_urban_install(), steps=(StepFacts("step-mat", "V-MAT", at(10, 6)),))

    missing = finding(audit(visit), "v.id.missing")
    assert (missing.rule_id, missing.severity) == ("V-ID", "violation")


def test_v_mat_missing_is_violation_once_completed() -> None:
    visit = replace(honest_urban_install(), steps=(StepFacts("step-id", "V-ID", at(9, 58)),))

    assert finding(audit(visit), "v.mat.missing").message_zh == "未确认工具放置于工作台布"


def test_v_id_confirmed_long_after_leaving_is_a_warning() -> None:
    visit = honest_urban_install()
    visit = replace(visit, steps=(StepFacts("step-id", "V-ID", at(11, 28)),) + visit.steps[1:])  # checkout 11:12

    late = finding(audit(visit), "v.id.outside_visit")
    assert late.severity == "warning" and late.refs == ("step:step-id",)


def test_v_id_confirmed_within_the_slack_around_the_visit_passes() -> None:
    visit = honest_urban_install()
    visit = replace(visit, steps=(StepFacts("step-id", "V-ID", at(9, 42)),) + visit.steps[1:])  # arrival 9:57

    assert audit(visit).findings == ()


def test_v_consent_recorded_without_what_it_was_for_is_a_warning() -> None:
    visit = honest_urban_install()
    visit = replace(visit, steps=visit.steps + (StepFacts("consent", "V-CONSENT", at(10, 10), note=" "),))

    assert finding(audit(visit), "v.consent.undescribed").severity == "warning"


def test_v_consent_with_a_description_passes() -> None:
    visit = honest_urban_install()
    visit = replace(visit, steps=visit.steps + (StepFacts("consent", "V-CONSENT", at(10, 10), "enter the study"),))

    assert audit(visit).findings == ()


def test_v_test_without_a_measured_result_is_missing() -> None:
    visit = replace(honest_urban_install(), tests=(ServiceTestFacts("test-1", at(10, 50), True),))

    assert finding(audit(visit), "v.test.missing").rule_id == "V-TEST"


UNRESOLVED = CompletionFacts("completion-1", "unresolved", reason="the line is down outside the building")


def test_v_test_result_the_customer_did_not_accept_on_a_visit_closed_unresolved_is_a_warning() -> None:
    rejected = ServiceTestFacts("t", at(10, 50), False, latency_ms=300.0)
    visit = replace(honest_urban_install(), tests=(rejected,), completion=UNRESOLVED)

    verdict = audit(visit)
    assert finding(verdict, "v.test.not_accepted").severity == "warning"
    assert verdict.status == "passed"


def test_v_test_result_the_customer_did_not_accept_on_a_visit_closed_resolved_is_violation() -> None:
    visit = replace(honest_urban_install(), tests=(ServiceTestFacts("t", at(10, 50), False, latency_ms=300.0),))

    refused = finding(audit(visit), "v.test.resolved_not_accepted")
    assert (refused.rule_id, refused.severity) == ("V-TEST", "violation")
    assert refused.refs == ("test:t", "completion:completion-1")
    assert "v.test.not_accepted" not in codes(audit(visit))


def test_v_test_result_not_accepted_on_a_fault_of_the_customers_own_equipment_closed_resolved_is_a_warning() -> None:
    own_equipment = CompletionFacts(
        "completion-1", "resolved", customer_equipment_fault=True, terminal_explanation="the router is faulty",
        terminal_help_given=True,
    )
    rejected = ServiceTestFacts("t", at(10, 50), False, latency_ms=300.0)
    visit = replace(honest_urban_install(), tests=(rejected,), completion=own_equipment)

    assert finding(audit(visit), "v.test.not_accepted").severity == "warning"


def test_v_test_a_re_test_the_customer_rejected_after_an_accepted_one_is_what_counts() -> None:
    accepted = ServiceTestFacts("first", at(10, 50), True, download_mbps=500.0)
    rejected = ServiceTestFacts("retest", at(10, 55), False, download_mbps=5.0, latency_ms=200.0)
    visit = replace(honest_urban_install(), tests=(accepted, rejected), completion=UNRESOLVED)

    assert finding(audit(visit), "v.test.not_accepted").refs == ("test:retest",)


def test_v_test_a_re_test_the_customer_accepted_after_a_rejected_one_is_fine() -> None:
    rejected = ServiceTestFacts("first", at(10, 50), False, download_mbps=5.0)
    accepted = ServiceTestFacts("retest", at(10, 55), True, download_mbps=500.0)
    visit = replace(honest_urban_install(), tests=(rejected, accepted))

    assert "v.test.not_accepted" not in codes(audit(visit))


def test_v_test_accepted_before_the_technician_arrived_is_violation() -> None:
    early = ServiceTestFacts("test-early", at(9, 50), True, download_mbps=500.0)  # arrival 09:57

    found = finding(audit(replace(honest_urban_install(), tests=(early,))), "v.test.before_arrival")
    # The threshold is the clock-skew limit the rule allows (2 min by default), not the arrival itself (a probe).
    assert (found.severity, found.measured, found.threshold, found.unit) == ("violation", -7.0, -2.0, "min")


def test_v_test_within_the_clock_skew_limit_of_the_arrival_is_fine() -> None:
    just_before = ServiceTestFacts("test-1", at(9, 55), True, download_mbps=500.0)  # 2 min, the limit

    assert "v.test.before_arrival" not in codes(audit(replace(honest_urban_install(), tests=(just_before,))))


def test_v_card_handed_over_before_the_technician_arrived_is_violation() -> None:
    visit = honest_urban_install()
    visit = replace(visit, card=replace(visit.card, handed_at=at(9, 40)))

    found = finding(audit(visit), "v.card.before_arrival")
    assert (found.severity, found.measured, found.refs[0]) == ("violation", -17.0, "card:card-1")


def test_v_test_accepted_more_than_the_photo_slack_after_check_out_is_violation() -> None:
    late = ServiceTestFacts("test-late", at(11, 28), True, download_mbps=500.0)  # check-out 11:12, slack 15 min

    found = finding(audit(replace(honest_urban_install(), tests=(late,))), "v.test.after_checkout")
    assert (found.severity, found.measured, found.threshold) == ("violation", 16.0, 15.0)


def test_v_test_after_a_check_out_is_late_though_a_second_check_out_came_after_it() -> None:
    visit = honest_urban_install()  # checked out at 11:12
    late = ServiceTestFacts("test-late", at(11, 29), True, download_mbps=500.0)
    visit = replace(visit, tests=(late,), checkins=(*visit.checkins, checkin("checkout", at(11, 31))))

    assert finding(audit(visit), "v.test.after_checkout").measured == 17.0


def test_v_test_after_a_return_check_in_is_on_site_again() -> None:
    visit = honest_urban_install()
    back = (checkin("return", at(11, 25)), checkin("checkout", at(11, 40)))
    visit = replace(visit, tests=(ServiceTestFacts("test-1", at(11, 30), True, download_mbps=500.0),),
                    checkins=(*visit.checkins, *back))

    assert "v.test.after_checkout" not in codes(audit(visit))


def test_v_test_within_the_photo_slack_after_check_out_is_fine() -> None:
    just_after = ServiceTestFacts("test-1", at(11, 27), True, download_mbps=500.0)

    assert "v.test.after_checkout" not in codes(audit(replace(honest_urban_install(), tests=(just_after,))))


def test_v_card_handed_over_more_than_the_photo_slack_after_check_out_is_violation() -> None:
    visit = honest_urban_install()
    late = finding(audit(replace(visit, card=replace(visit.card, handed_at=at(11, 30)))), "v.card.after_checkout")
    in_slack = audit(replace(visit, card=replace(visit.card, handed_at=at(11, 27))))

    assert (late.severity, late.measured) == ("violation", 18.0)
    assert "v.card.after_checkout" not in codes(in_slack)


def test_v_terminal_customer_equipment_fault_needs_explanation_and_help_record() -> None:
    visit = replace(honest_rural_repair(), completion=CompletionFacts(
        "completion-1", "resolved", customer_equipment_fault=True,
    ))

    missing = finding(audit(visit), "v.terminal.missing")
    assert "explanation" in missing.message_en and "whether help was given" in missing.message_en


def test_v_terminal_not_needed_when_the_fault_was_not_the_customers_equipment() -> None:
    visit = replace(honest_rural_repair(), completion=CompletionFacts("completion-1", "resolved"))

    assert "v.terminal.missing" not in codes(audit(visit))


def test_v_card_with_a_blank_field_is_incomplete() -> None:
    visit = honest_urban_install()
    visit = replace(visit, card=replace(visit.card, hotline="", staff_number=" "))

    missing = finding(audit(visit), "v.card.missing")
    assert missing.message_en == "the service card lacks the staff number, customer-service hotline"
    assert missing.message_zh == "服务卡缺少工号、客服热线"


def test_v_ask_followed_up_within_48_hours_passes() -> None:
    assert "V-ASK" not in {f.rule_id for f in audit(honest_rural_repair()).findings}


def test_v_ask_overdue_once_now_is_past_48_hours_without_follow_up() -> None:
    ask = AskFacts("ask-1", at(15, 35), "IPTV?", "Wang Fang", "139", "Village 3")
    visit = replace(honest_rural_repair(), asks=(ask,))

    on_time = audit(visit, context(now=at(15, 35, day=8)))
    overdue = audit(visit, context(now=at(15, 36, day=8)))

    assert "v.ask.overdue" not in codes(on_time)
    assert (finding(overdue, "v.ask.overdue").threshold, overdue.status) == (48.0, "flagged")


def test_v_ask_an_overdue_finding_is_the_same_however_late_the_audit_runs() -> None:
    ask = AskFacts("ask-1", at(15, 35), "IPTV?", "Wang Fang", "139", "Village 3")
    visit = replace(honest_rural_repair(), asks=(ask,))

    just_after = audit(visit, context(now=at(15, 36, day=8)))
    weeks_later = audit(visit, context(now=at(15, 36, day=31)))

    assert finding(just_after, "v.ask.overdue") == finding(weeks_later, "v.ask.overdue")


def test_v_ask_followed_up_late_is_violation() -> None:
    ask = AskFacts("ask-1", at(15, 35), "IPTV?", "Wang Fang", "139", "Village 3", followed_up_at=at(16, 0, day=8))

    assert finding(audit(replace(honest_rural_repair(), asks=(ask,))), "v.ask.late").threshold == 48.0


def test_v_ask_without_the_customers_contact_is_violation() -> None:
    ask = AskFacts("ask-1", at(15, 35), "IPTV?", "Wang Fang", "", " ", followed_up_at=at(16, 0))

    incomplete = finding(audit(replace(honest_rural_repair(), asks=(ask,))), "v.ask.incomplete")
    assert incomplete.message_en == "question recorded without the customer's phone, address"


def test_v_close_a_force_closed_visit_its_technician_never_reached_has_only_the_forced_close() -> None:
    visit = honest_urban_install()
    never_reached = replace(
        visit, checkins=(), clock_syncs=(), steps=(), photos=(), tests=(), signature=None, card=None, completion=None,
        order=replace(visit.order, forced_close_reason="customer moved away"),
    )

    verdict = audit(never_reached)
    assert (verdict.status, codes(verdict)) == ("flagged", {"v.close.forced"})


def test_v_close_forced_close_is_always_flagged() -> None:
    visit = honest_urban_install()
    visit = replace(visit, order=replace(visit.order, forced_close_reason="customer moved away"))

    verdict = audit(visit)
    assert finding(verdict, "v.close.forced").measured == "customer moved away"
    assert verdict.status == "flagged"


def test_v_close_forced_close_of_an_unfinished_visit_is_audited_with_what_was_missing() -> None:
    visit = replace(honest_urban_install(), completion=None, signature=None)
    visit = replace(visit, order=replace(visit.order, forced_close_reason="duplicate order"))

    verdict = audit(visit)
    assert verdict.status == "flagged"
    assert {"v.close.forced", "v.sign.missing"} <= codes(verdict)


def test_v_close_forced_close_is_reported_once_on_the_orders_first_visit() -> None:
    visit = replace(honest_urban_install(), completion=None)
    later_visit = replace(visit, order=replace(visit.order, forced_close_reason="no access", first_visit_id="visit-0"))

    verdict = audit(later_visit)
    assert "v.close.forced" not in codes(verdict)
    assert verdict.status == "passed"  # finished by the close, nothing missing on this visit


def test_v_close_unresolved_outcome_needs_a_reason() -> None:
    visit = replace(honest_urban_install(), completion=CompletionFacts("c", "unresolved"))
    explained = replace(visit, completion=CompletionFacts("c", "unresolved", reason="fibre cut on the street"))

    assert "v.close.no_reason" in codes(audit(visit))
    assert "v.close.no_reason" not in codes(audit(explained))


def test_missing_for_closure_lists_every_missing_item_in_policy_order() -> None:
    visit = replace(honest_urban_install(), steps=(), photos=(), signature=None, card=None)

    missing = missing_for_closure(visit, policy_for(visit))

    assert [item.rule_id for item in missing] == ["V-ID", "V-SHOES", "V-MAT", "V-CLEAN", "V-SIGN", "V-CARD"]
    assert all(item.message_en and item.message_zh for item in missing)


def test_missing_for_closure_is_empty_for_an_honest_visit() -> None:
    for visit in (honest_urban_install(), honest_rural_repair()):
        assert missing_for_closure(visit, policy_for(visit)) == []


def test_missing_for_closure_follows_the_policy_required_items() -> None:
    visit = replace(honest_urban_install(), card=None)
    lenient = replace(policy_for(visit), required_items=("V-CHECKIN", "V-CHECKOUT"))

    assert missing_for_closure(visit, lenient) == []
    assert audit(visit, policy=lenient).status == "passed"


def test_v_close_every_item_a_policy_may_require_has_a_presence_check() -> None:
    assert set(ITEM_CHECKS) == set(CLOSURE_ITEMS)


def test_v_ask_a_question_dated_two_days_before_the_arrival_is_no_question_asked_on_the_spot() -> None:
    visit = honest_rural_repair()  # arrived on the 4th, after 14:00
    ask = AskFacts("ask-1", at(12, 0, day=2), "IPTV?", "Wang Fang", "139", "Village 3", followed_up_at=at(16, 0))

    early = finding(audit(replace(visit, asks=(ask,))), "v.ask.before_arrival")
    assert (early.severity, early.threshold) == ("violation", -2.0)


def test_v_test_a_re_test_synced_in_one_batch_with_its_trips_check_ins_is_not_after_the_check_out() -> None:
    """One sync batch, one receipt: the arrival, the re-test and the check-out all reached the service at once."""
    visit = second_trip(offline=True)
    synced = visit.tests[-1].after_completion_at
    at_once = tuple(replace(c, received_at=synced) if c.received_at > at(12, 0) else c for c in visit.checkins)

    assert "v.test.after_checkout" not in codes(audit(replace(visit, checkins=at_once)))


def second_trip(offline: bool) -> VisitFacts:
    """An auditor returned the visit for a re-test: the next day's arrival, an accepted re-test and a check-out; the
    re-test (no monotonic time) counts when it reached the service, 90 min after it was done. `offline`: the
    check-ins were synced with it (in their order), else sent at once."""
    visit = honest_urban_install()
    trip = at(14, 0, day=7)
    synced = trip + timedelta(minutes=90)
    retest = ServiceTestFacts(
        "retest", trip + timedelta(minutes=20), True, download_mbps=500.0,
        after_completion_at=synced, after_completion_by_receipt=True,
    )
    arrival = checkin("arrival", trip, sent_after_s=90 * 60 - 1 if offline else 2)
    checkout = checkin("checkout", trip + timedelta(minutes=25), sent_after_s=65 * 60 + 1 if offline else 2)
    return replace(
        visit,
        checkins=(*visit.checkins, arrival, checkout),
        tests=(*visit.tests, retest), first_completed_at=at(11, 15),
    )


def test_v_test_a_re_test_synced_offline_with_the_check_out_after_it_is_not_after_the_check_out() -> None:
    assert "v.test.after_checkout" not in codes(audit(second_trip(offline=True)))


def test_v_test_a_re_test_that_reached_the_service_long_after_the_check_out_did_is_after_the_check_out() -> None:
    assert "v.test.after_checkout" in codes(audit(second_trip(offline=False)))
