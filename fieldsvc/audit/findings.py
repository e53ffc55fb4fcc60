"""Findings and verdicts (A-VERDICT), with a deterministic dict form for JSON storage."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec

from fieldsvc.audit.wording import local_time

Severity = Literal["violation", "warning", "info"]
VIOLATION: Severity = "violation"
WARNING: Severity = "warning"
INFO: Severity = "info"

# The ids of STANDARD.md, sections 1 to 4; a finding names one of them.
STANDARD_RULE_IDS = (
    "B-ORDER", "B-APPT", "B-CONTACT", "B-FIRST", "B-INSTALL-24", "B-QUIET", "B-REPAIR", "B-ASSIGN", "B-RESCHED",
    "B-CANCEL", "V-CHECKIN", "V-PUNCT", "V-GEOFENCE", "V-ID", "V-SHOES", "V-MAT", "V-CONSENT", "V-LEAVE", "V-TERMINAL",
    "V-TEST", "V-CLEAN", "V-ASK", "V-SIGN", "V-CARD", "V-CHECKOUT", "V-CLOSE", "E-IMAGE", "E-TIME", "E-PLACE", "E-EDIT",
    "E-REUSE", "E-CLOCK", "E-MOCK", "A-VERDICT", "A-REAUDIT", "A-QUEUE", "A-DECIDE", "A-TRAIL",
)

VerdictStatus = Literal["pending", "passed", "flagged"]
# Where the trusted arrival time came from (V-PUNCT, E-CLOCK), best first.
TimeSource = Literal["device_corrected", "server_receipt", "device_clock", "first_photo", "location_fix"]
# Why a check-in's monotonic time was not believed: it disagreed with a wall clock the receipt bears out, or the phone
# sent one with its other facts and left it off this check-in.
Doubt = Literal["", "monotonic_disputed", "monotonic_left_off"]


def finding_code(rule_id: str, reason: str) -> str:
    """Rule id plus reason as a finding code: V-PUNCT, late -> v.punct.late; B-INSTALL-24 -> b.install_24.*."""
    group, _, name = rule_id.lower().partition("-")
    return f"{group}.{name.replace('-', '_')}.{reason}"


def refs_to(kind: str, ids: Iterable[str]) -> tuple[str, ...]:
    """References to several facts of one kind, each once (a replayed fact is the same fact) in a stable order."""
    return tuple(sorted({f"{kind}:{fact_id}" for fact_id in ids}))


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str  # STANDARD id, e.g. "V-PUNCT"
    code: str  # finer reason, e.g. "v.punct.late"
    severity: Severity
    message_en: str
    message_zh: str
    measured: str | float | None = None
    threshold: str | float | None = None
    unit: str | None = None
    refs: tuple[str, ...] = ()  # "checkin:<event id>", "photo:<id>", "visit:<id>", ...

    def sort_key(self) -> tuple[object, ...]:
        return (
            self.rule_id, self.code, self.refs, self.message_en, self.message_zh, self.severity,
            repr(self.measured), repr(self.threshold), repr(self.unit),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "code": self.code,
            "severity": self.severity,
            "message_en": self.message_en,
            "message_zh": self.message_zh,
            "measured": self.measured,
            "threshold": self.threshold,
            "unit": self.unit,
            "refs": list(self.refs),
        }


def verdict_digest(verdict: Mapping[str, Any]) -> str:
    """A verdict (as Verdict.to_dict gives it, or as stored and read back) as one digest, stored with it and on the
    trail. msgspec's sorted encoding costs a tenth of json.dumps(sort_keys=True), which was 4% of a bulk worker."""
    return hashlib.sha256(msgspec.json.encode(verdict, order="sorted")).hexdigest()


def violation_key(finding: Mapping[str, Any]) -> str:
    """A-DECIDE: which violation a stored finding is, its code and the facts it is about: a second unrecorded leave,
    to another visit, is another violation of the same code (a probe). A fact of another visit counts as that visit:
    an earlier check-in there synced later moves the reference, not the trip (a probe)."""
    return finding["code"] + "|" + " ".join(ref.partition("/")[0] for ref in finding["refs"])


def decision_covers(covered: set[str], finding: Mapping[str, Any]) -> bool:
    """Whether a decision covering these violation keys (or, kept before keys were, plain codes) covers the finding."""
    return finding["code"] in covered or violation_key(finding) in covered


@dataclass(frozen=True, slots=True)
class TrustedTime:
    """The arrival time the audit believed, and why (V-PUNCT, E-CLOCK); the why is rendered only when read."""

    at: datetime
    source: TimeSource
    ref: str  # the fact it came from
    time_zone: str  # the site's, for showing times
    device_time: datetime | None = None  # the check-in's raw values, for check-in sources
    received_at: datetime | None = None
    correction_rejected: bool = False  # a corrected time existed but was later than the server receipt
    prompt_receipt_s: float = 0.0
    doubt: Doubt = ""

    @property
    def reason_en(self) -> str:
        return self._reason()[0]

    @property
    def reason_zh(self) -> str:
        return self._reason()[1]

    def _reason(self) -> tuple[str, str]:
        if self.device_time is None or self.received_at is None:  # first_photo
            shown = local_time(self.at, self.time_zone)
            return (
                f"no arrival check-in; the earliest photo was taken at {shown} (phone clock)",
                f"没有到达签到；采用最早一张照片的拍摄时间 {shown}（手机时钟）",
            )
        device = local_time(self.device_time, self.time_zone)
        if self.source == "location_fix":
            shown = local_time(self.at, self.time_zone)
            return (
                f"device time {device}, but the check-in's location fix is dated well after it by the fix's own clock "
                f"and no monotonic time of the phone's boot bears its clock out: the clock was behind, so the check-in "
                f"is taken as recorded no earlier than the clock-skew limit before its fix, {shown}",
                f"设备时间 {device}，但签到的定位时间明显更晚，且没有本次开机的单调时钟可以印证：手机时钟偏慢，"
                f"故签到时间取不早于定位时间前的时钟偏差上限，即 {shown}",
            )
        if self.source == "device_corrected":
            ahead = round((self.device_time - self.at).total_seconds())
            if ahead == 0:
                return f"device time {device}, the phone's clock right at sync", f"设备时间 {device}，同步时手机时钟准确"
            en, zh = ("fast", "快") if ahead > 0 else ("slow", "慢")
            return (
                f"device time {device}, corrected for the phone's clock running {abs(ahead)} s {en} at sync",
                f"设备时间 {device}，已按同步时手机时钟{zh} {abs(ahead)} 秒校正",
            )
        if self.doubt == "monotonic_left_off":
            return (
                f"device time {device}, but the phone sent its monotonic clock with its other facts and not with this "
                "check-in, which it would have dated, so the server receipt time is trusted",
                f"设备时间 {device}，但手机的其他记录均附带单调时钟，唯独此签到没有，故采用服务器接收时间",
            )
        if self.doubt == "monotonic_disputed":
            return (
                f"device time {device}: the phone's wall clock says the check-in was sent the moment it was recorded, "
                "its monotonic clock says long before, so the server receipt time is trusted",
                f"设备时间 {device}：手机墙上时钟显示签到一记录即发送，单调时钟却显示早已记录，故采用服务器接收时间",
            )
        if self.correction_rejected:
            before_en = "the corrected device time was later than the server receipt, so the correction was rejected; "
            before_zh = "校正后的设备时间晚于服务器接收时间，校正无效；"
        else:
            before_en, before_zh = "no clock offset was measured; ", "未测得时钟偏差；"
        gap = (self.received_at - self.device_time).total_seconds()
        if self.source == "server_receipt":
            return (
                f"{before_en}the check-in reached the server {gap:+.0f} s from its device time {device} "
                f"(sent online, within {self.prompt_receipt_s:.0f} s), so the server receipt time is trusted",
                f"{before_zh}签到到达服务器的时间与设备时间 {device} 相差 {gap:+.0f} 秒"
                f"（在线发送，{self.prompt_receipt_s:.0f} 秒以内），采用服务器接收时间",
            )
        return (
            f"{before_en}the check-in reached the server {gap:+.0f} s from its device time {device} (sent late), "
            "so only the phone's own clock is available (unverified)",
            f"{before_zh}签到到达服务器的时间与设备时间 {device} 相差 {gap:+.0f} 秒（延迟发送），只能采用手机自身时钟（未经核实）",
        )

    def to_dict(self) -> dict[str, Any]:
        reason_en, reason_zh = self._reason()
        return {
            "at": self.at.isoformat(),
            "source": self.source,
            "ref": self.ref,
            "reason_en": reason_en,
            "reason_zh": reason_zh,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    status: VerdictStatus
    findings: tuple[Finding, ...]
    policy_id: str
    policy_version: int
    policy_fingerprint: str
    trusted_arrival: TrustedTime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "policy_id": self.policy_id,
            "policy_version": self.policy_version,
            "policy_fingerprint": self.policy_fingerprint,
            "trusted_arrival": None if self.trusted_arrival is None else self.trusted_arrival.to_dict(),
            "findings": [finding.to_dict() for finding in self.findings],
        }
