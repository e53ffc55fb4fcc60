"""V-ASK: first-ask responsibility, a question recorded with the customer's contact and followed up in time."""

from __future__ import annotations

from datetime import datetime, timedelta

from fieldsvc.audit.facts import AskFacts
from fieldsvc.audit.findings import VIOLATION, Finding
from fieldsvc.audit.rules.steps import with_the_customer
from fieldsvc.audit.timeline import AuditInput
from fieldsvc.audit.wording import hours, local_time, span

CONTACT_FIELDS = (
    ("customer_name", "name", "姓名"),
    ("customer_phone", "phone", "电话"),
    ("customer_address", "address", "地址"),
)


def v_ask(audit: AuditInput) -> list[Finding]:
    allowed = audit.policy.durations.ask_follow_up
    now = audit.context.now
    findings = []
    for ask in audit.visit.asks:
        refs = (f"ask:{ask.event_id}",)
        missing = [(en, zh) for name, en, zh in CONTACT_FIELDS if not getattr(ask, name).strip()]
        if missing:
            findings.append(Finding(
                rule_id="V-ASK", code="v.ask.incomplete", severity=VIOLATION,
                message_en=f"question recorded without the customer's {', '.join(en for en, _ in missing)}",
                message_zh=f"首问记录缺少客户{'、'.join(zh for _, zh in missing)}",
                measured=f"without {', '.join(en for en, _ in missing)}", threshold="name, phone and address",
                refs=refs,
            ))
        findings += with_the_customer(
            audit, ask.asked_at, "V-ASK", refs[0], ("the customer's question was recorded", "客户问题记录时间"),
        )
        findings += _follow_up_findings(ask, allowed, now, audit.visit.site.time_zone, refs)
    return findings


def _follow_up_findings(
    ask: AskFacts, allowed: timedelta, now: datetime, time_zone: str, refs: tuple[str, ...]
) -> list[Finding]:
    due = ask.asked_at + allowed
    if ask.followed_up_at is not None:
        if ask.followed_up_at <= due:
            return []
        taken = ask.followed_up_at - ask.asked_at
        (taken_en, taken_zh), (allowed_en, allowed_zh) = span(taken), span(allowed)
        return [Finding(
            rule_id="V-ASK", code="v.ask.late", severity=VIOLATION,
            message_en=f"the customer's question was followed up after {taken_en} (limit {allowed_en})",
            message_zh=f"客户问题在 {taken_zh} 后才跟进（时限 {allowed_zh}）",
            measured=hours(taken), threshold=hours(allowed), unit="h", refs=refs,
        )]
    if now <= due:
        return []
    # Stated as of the due time, not of "now": the same facts give the same finding however late the audit runs.
    due_local, (allowed_en, allowed_zh) = local_time(due, time_zone), span(allowed)
    return [Finding(
        rule_id="V-ASK", code="v.ask.overdue", severity=VIOLATION,
        message_en=f"the customer's question had no follow-up by {due_local}, its due time (limit {allowed_en})",
        message_zh=f"客户问题截至 {due_local}（时限 {allowed_zh}）仍未跟进",
        measured="no follow-up by the due time", threshold=hours(allowed), unit="h", refs=refs,
    )]
