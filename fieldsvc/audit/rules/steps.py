"""Confirmations on the phone: V-ID, V-MAT and V-CONSENT made on site, V-TEST accepted by the customer."""

from __future__ import annotations

from datetime import datetime, timedelta

from fieldsvc.audit.findings import VIOLATION, WARNING, Finding, finding_code
from fieldsvc.audit.timeline import AuditInput, checked_out_before, test_time
from fieldsvc.audit.wording import local_time, minutes

STEP_NAMES = {
    "V-ID": ("work ID shown and purpose stated", "出示工作证并说明来意"),
    "V-MAT": ("tools placed on a work mat", "工具放置于工作台布"),
    "V-CONSENT": ("customer consent", "客户同意"),
}


def on_site_steps(audit: AuditInput) -> list[Finding]:
    """A confirmation outside the on-site period (with the E-TIME slack) was not made when it happened."""
    timeline, slack = audit.timeline, audit.policy.durations.photo_time_slack
    earliest = timeline.arrival.at - slack if timeline.arrival is not None else None
    latest = timeline.departure + slack if timeline.departure is not None else None
    zone = audit.visit.site.time_zone
    findings = []
    for step in audit.visit.steps:
        if step.step not in STEP_NAMES:
            continue  # a step a policy names beyond these is checked only for its presence (V-CLOSE)
        name_en, name_zh = STEP_NAMES[step.step]
        refs = (f"step:{step.event_id}",)
        too_early = earliest is not None and step.confirmed_at < earliest
        if too_early or (latest is not None and step.confirmed_at > latest):
            shown = local_time(step.confirmed_at, zone)
            on_site = " - ".join(local_time(bound, zone) if bound else "open" for bound in (earliest, latest))
            findings.append(Finding(
                rule_id=step.step, code=finding_code(step.step, "outside_visit"), severity=WARNING,
                message_en=f"{name_en} confirmed at {shown}, outside the time on site",
                message_zh=f"{name_zh}的确认时间 {shown} 不在上门时段内",
                measured=shown, threshold=on_site, refs=refs,
            ))
        if step.step == "V-CONSENT" and not step.note.strip():
            findings.append(Finding(
                rule_id="V-CONSENT", code="v.consent.undescribed", severity=WARNING,
                message_en="customer consent recorded without saying what it was for",
                message_zh="记录了客户同意，但未说明同意的事项",
                measured="no scope", threshold="what the consent was for", refs=refs,
            ))
    return findings


def v_test(audit: AuditInput) -> list[Finding]:
    """The last recorded result is the one the customer accepted or not (a re-test replaces the earlier ones); a
    missing result is V-TEST missing (V-CLOSE)."""
    results = [test for test in audit.visit.tests if test.has_result]
    if not results:
        return []
    last = max(results, key=lambda test: (test_time(test), test.event_id))
    findings = [] if last.customer_accepted else [_not_accepted(audit, last.event_id)]
    # A re-test sent after the first completion was made after it: after the check-out, unless on a new trip.
    re_test = last.after_completion_at is not None
    return findings + with_the_customer(
        audit, test_time(last), "V-TEST", f"test:{last.event_id}",
        ("the service test the customer accepted was recorded", "测试验收记录时间"), last.after_completion_by_receipt,
        slack=timedelta(0) if re_test else None,
    )


def _not_accepted(audit: AuditInput, event_id: str) -> Finding:
    """A warning, unless the visit was closed `resolved` all the same: the customer's own test says the fault is not
    fixed (**Decision**: a fault of the customer's own equipment, V-TERMINAL, may leave the line fixed and the test
    still refused, so that stays a warning)."""
    completion = audit.visit.completion
    resolved = completion is not None and completion.outcome == "resolved"
    if resolved and not completion.customer_equipment_fault:
        return Finding(
            rule_id="V-TEST", code="v.test.resolved_not_accepted", severity=VIOLATION,
            message_en="the visit was closed resolved, but the customer did not accept the last service test result",
            message_zh="客户未认可最后一次测试验收结果，工单却以“已解决”关闭",
            measured="not accepted", threshold="accepted",
            refs=(f"test:{event_id}", f"completion:{completion.event_id}"),
        )
    return Finding(
        rule_id="V-TEST", code="v.test.not_accepted", severity=WARNING,
        message_en="the customer did not accept the last service test result",
        message_zh="客户未认可最后一次测试验收结果",
        measured="not accepted", threshold="accepted", refs=(f"test:{event_id}",),
    )


def v_card(audit: AuditInput) -> list[Finding]:
    """The card is handed to the customer, so while the technician was there; absence is V-CLOSE's."""
    card = audit.visit.card
    if card is None:
        return []
    return with_the_customer(
        audit, card.handed_at, "V-CARD", f"card:{card.event_id}", ("the service card was handed over", "服务卡交付时间"),
    )


def with_the_customer(
    audit: AuditInput, at: datetime, rule_id: str, ref: str, what: tuple[str, str], by_receipt: bool = False,
    slack: timedelta | None = None,
) -> list[Finding]:
    """A fact that needs the customer (a test they accept, a card handed to them) happened while the technician was
    there: not before the arrival (beyond the clock-skew limit), nor after the check-out (beyond `slack`, by default
    the photo slack, V-SIGN's allowance for the same). `what`: the fact, worded in English and Chinese before its
    time; `by_receipt`: `at` is when it reached the service, and so is compared with when the check-outs did."""
    slack = audit.policy.durations.photo_time_slack if slack is None else slack
    findings = []
    early = _before_arrival(audit, at)
    if early is not None:
        skew = minutes(audit.policy.durations.clock_skew_limit)  # what two facts' clocks may differ by
        findings.append(Finding(
            rule_id=rule_id, code=finding_code(rule_id, "before_arrival"), severity=VIOLATION,
            message_en=f"{what[0]} {early} min before the technician arrived (clocks may differ by {skew} min)",
            message_zh=f"{what[1]}早于技术员到达 {early} 分钟（时钟误差允许 {skew} 分钟）",
            measured=-early, threshold=-skew, unit="min", refs=(ref, audit.timeline.arrival.ref),
        ))
    late = _after_checkout(audit, at, by_receipt, slack)
    if late is not None:
        allowed = minutes(slack)
        findings.append(Finding(
            rule_id=rule_id, code=finding_code(rule_id, "after_checkout"), severity=VIOLATION,
            message_en=f"{what[0]} {late} min after the technician checked out: not with the customer "
                       f"(allowed {allowed} min)",
            message_zh=f"{what[1]}晚于技术员签退 {late} 分钟，并非与客户一同完成（允许 {allowed} 分钟）",
            measured=late, threshold=allowed, unit="min", refs=(ref,),
        ))
    return findings


def _after_checkout(audit: AuditInput, at: datetime, by_receipt: bool, slack: timedelta) -> float | None:
    """Minutes a fact that needs the customer came after the technician checked out (and before any return), when
    that is more than `slack`; None when it did not."""
    left = checked_out_before(audit, at, by_receipt)
    if left is None or at - left <= slack:
        return None
    return minutes(at - left)


def _before_arrival(audit: AuditInput, at: datetime) -> float | None:
    """Minutes a fact that needs the customer (a test they accept, a card handed to them) came before the arrival,
    beyond the clock-skew limit that two facts' times may differ by; None when it did not."""
    arrival = audit.timeline.arrival
    if arrival is None or arrival.at - at <= audit.policy.durations.clock_skew_limit:
        return None
    return minutes(arrival.at - at)

