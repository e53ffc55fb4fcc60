"""V-SIGN: a real, named signature on site, after arrival and clean-up, bound to the summary that was shown."""

from __future__ import annotations

from fieldsvc.audit.findings import VIOLATION, Finding, refs_to
from fieldsvc.audit.policy import Policy
from fieldsvc.audit.rules.site_care import clean_photos_after_work
from fieldsvc.audit.timeline import AuditInput, checked_out_before, photo_time
from fieldsvc.audit.wording import minutes
from fieldsvc.visible import shows_text


def signature_is_blank(ink_ratio: float, policy: Policy) -> bool:
    """V-SIGN: too little ink to be anyone's signature (the phone is told at once, to have the customer sign again)."""
    return ink_ratio < policy.signature_min_ink_ratio


def v_sign(audit: AuditInput) -> list[Finding]:
    signature = audit.visit.signature
    if signature is None:
        return []  # absence is V-SIGN missing once the visit is finished
    refs = (f"signature:{signature.event_id}",)
    minimum_ink = audit.policy.signature_min_ink_ratio
    findings = []
    blank = signature_is_blank(signature.ink_ratio, audit.policy)
    if blank:
        findings.append(Finding(
            rule_id="V-SIGN", code="v.sign.blank", severity=VIOLATION,
            message_en=f"the signature is blank: its strokes, drawn with the standard pen, would cover "
                       f"{signature.ink_ratio:.2%} of the pad (minimum {minimum_ink:.2%})",
            message_zh=f"签名为空白：其笔迹按标准笔宽仅覆盖签名板的 {signature.ink_ratio:.2%}（至少 {minimum_ink:.2%}）",
            measured=round(signature.ink_ratio, 5), threshold=minimum_ink, unit="ratio", refs=refs,
        ))
    if not shows_text(signature.signer_name):
        findings.append(Finding(
            rule_id="V-SIGN", code="v.sign.unnamed", severity=VIOLATION,
            message_en="the signature does not name the signer", message_zh="签名未注明签字人",
            measured="no signer name", threshold="the signer's name", refs=refs,
        ))
    if signature.summary_digest != signature.expected_digest:
        findings.append(Finding(
            rule_id="V-SIGN", code="v.sign.digest_mismatch", severity=VIOLATION,
            message_en="the customer signed a summary that differs from the work-order summary the service generated",
            message_zh="客户签字的施工单摘要与系统生成的施工单不一致",
            measured=signature.summary_digest, threshold=signature.expected_digest, refs=refs,
        ))
    # Ingest matched the signature with another visit's only when it is the same file or a copy of its strokes; the
    # visit that sent it later is the one that reused it.
    # Every empty pad of an app is the same file: a blank signature is v.sign.blank alone, not also a copy of another
    # visit's blank (a probe).
    reused = [] if blank else sorted({
        (other.visit_id, other.photo_id) for other in audit.context.other_photos
        if signature.photo_id and other.matched_photo_id == signature.photo_id
        and other.visit_id != audit.visit.visit_id and other.received_first is not False
    })
    if reused:
        other_visits = sorted({visit_id for visit_id, _ in reused})  # a visit signed twice with it is one visit
        others = ", ".join(other_visits)
        findings.append(Finding(
            rule_id="V-SIGN", code="v.sign.reused", severity=VIOLATION,
            message_en=f"the same signature, as a file or a copy of its strokes, was submitted for another visit "
                       f"({others})",
            message_zh=f"同一签名（同一文件或其笔迹的复制）已用于另一次上门（{others}）",
            measured=float(len(other_visits)), threshold=0.0, unit="other visits",
            refs=(*refs, *(f"visit:{visit_id}/photo:{photo_id}" for visit_id, photo_id in reused)),
        ))
    arrival = audit.timeline.arrival
    if arrival is not None and signature.signed_at < arrival.at:
        early = minutes(arrival.at - signature.signed_at)
        findings.append(Finding(
            rule_id="V-SIGN", code="v.sign.before_arrival", severity=VIOLATION,
            message_en=f"signed {early} min before the technician arrived",
            message_zh=f"客户签名时间早于技术员到达 {early} 分钟",
            measured=-early, threshold=0.0, unit="min", refs=refs + (arrival.ref,),
        ))
    left, slack = checked_out_before(audit, signature.signed_at), audit.policy.durations.photo_time_slack
    if left is not None and signature.signed_at > left + slack:
        late = minutes(signature.signed_at - left)
        findings.append(Finding(
            rule_id="V-SIGN", code="v.sign.after_checkout", severity=VIOLATION,
            message_en=f"signed {late} min after the technician checked out: not on site "
                       f"(allowed {minutes(slack)} min)",
            message_zh=f"客户签名时间晚于技术员签退 {late} 分钟，并非在现场签收（允许 {minutes(slack)} 分钟）",
            measured=late, threshold=minutes(slack), unit="min", refs=refs,
        ))
    clean = clean_photos_after_work(audit)
    if clean and all(photo_time(photo) > signature.signed_at for photo in clean):
        first_clean = min(photo_time(photo) for photo in clean)
        findings.append(Finding(
            rule_id="V-SIGN", code="v.sign.before_clean", severity=VIOLATION,
            message_en=f"signed {minutes(first_clean - signature.signed_at)} min before the site-clean photo",
            message_zh=f"客户签名早于场地清洁照片 {minutes(first_clean - signature.signed_at)} 分钟",
            measured=minutes(signature.signed_at - first_clean), threshold=0.0, unit="min",
            refs=refs + refs_to("photo", (photo.photo_id for photo in clean)),
        ))
    return findings
