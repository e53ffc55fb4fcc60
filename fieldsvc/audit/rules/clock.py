"""E-CLOCK: the phone's clock off by more than the limit, changed, set back across a restart, or unverified."""

from __future__ import annotations

from datetime import timedelta

from fieldsvc.audit.facts import ClockMovedFacts, ClockSyncFacts
from fieldsvc.audit.findings import WARNING, Finding
from fieldsvc.audit.timeline import AuditInput, arrival_checkin
from fieldsvc.audit.wording import minutes

UNVERIFIED_SOURCES = ("device_clock", "first_photo")


def _widest_change(syncs: tuple[ClockSyncFacts, ...]) -> tuple[ClockSyncFacts, ClockSyncFacts]:
    """The first lowest and highest offset measured on one phone, of the phone whose offsets spread the widest: on a
    visit handed over, two phones' clocks differ without either having changed (a probe)."""
    by_phone: dict[str, list[ClockSyncFacts]] = {}
    for sync in syncs:
        by_phone.setdefault(sync.phone_id, []).append(sync)
    return max(
        ((min(phone, key=_offset), max(phone, key=_offset)) for phone in by_phone.values()),
        key=lambda extremes: extremes[1].offset_s - extremes[0].offset_s,
    )


def _offset(sync: ClockSyncFacts) -> float:
    return sync.offset_s


def e_clock(audit: AuditInput) -> list[Finding]:
    limit = audit.policy.clock_skew_limit_s
    findings = []
    syncs = audit.visit.clock_syncs
    if syncs:
        # The first measurement of each extreme, so the finding names the fact whose request showed it.
        highest_sync, lowest_sync = max(syncs, key=_offset), min(syncs, key=_offset)
        worst_sync = highest_sync if highest_sync.offset_s >= -lowest_sync.offset_s else lowest_sync
        worst = worst_sync.offset_s
        if abs(worst) > limit:
            findings.append(Finding(
                rule_id="E-CLOCK", code="e.clock.skew", severity=WARNING,
                message_en=f"the phone's clock was {worst:+.0f} s off the server's (limit {limit:.0f} s); "
                           "event times were corrected by the measured offset",
                message_zh=f"手机时钟与服务器相差 {worst:+.0f} 秒（上限 {limit:.0f} 秒）；事件时间已按测得的偏差校正",
                measured=round(worst, 1), threshold=limit, unit="s", refs=_measured_by(worst_sync),
            ))
        lowest_sync, highest_sync = _widest_change(syncs)
        spread = highest_sync.offset_s - lowest_sync.offset_s
        if spread > limit:
            findings.append(Finding(
                rule_id="E-CLOCK", code="e.clock.changed", severity=WARNING,
                message_en=f"the phone's clock offset changed by {spread:.0f} s between syncs during the visit "
                           "(its clock was set by hand, or put right by the network)",
                message_zh=f"上门期间各次同步测得的手机时钟偏差变化了 {spread:.0f} 秒（时钟可能被手动调整，或经网络校时）",
                measured=round(spread, 1), threshold=limit, unit="s",
                refs=_measured_by(lowest_sync) + _measured_by(highest_sync),
            ))
    findings += _moved_across_a_restart(audit)
    arrival = audit.timeline.arrival
    checkin = arrival_checkin(audit)
    if arrival is not None and arrival.source == "location_fix" and checkin is not None and checkin.fix_time:
        behind = (checkin.fix_time - checkin.device_time).total_seconds()
        findings.append(Finding(
            rule_id="E-CLOCK", code="e.clock.behind_location_fix", severity=WARNING,
            message_en=f"the arrival's device time is {behind:.0f} s before its own location fix (limit {limit:.0f} s): "
                       f"the phone's clock was behind when it recorded the arrival; {arrival.reason_en}",
            message_zh=f"到达签到的设备时间比其定位时间早 {behind:.0f} 秒（上限 {limit:.0f} 秒）：记录时手机时钟偏慢；"
                       f"{arrival.reason_zh}",
            measured=round(behind, 1), threshold=limit, unit="s", refs=(arrival.ref,),
        ))
    if arrival is not None and arrival.source in UNVERIFIED_SOURCES:
        findings.append(Finding(
            rule_id="E-CLOCK", code="e.clock.unverified", severity=WARNING,
            message_en="the arrival time rests on the phone's own clock, which could not be verified: "
                       + arrival.reason_en,
            message_zh=f"到达时间只能依据手机自身时钟，无法核实：{arrival.reason_zh}",
            measured=arrival.source, threshold="a verified time (device_corrected or server_receipt)",
            refs=(arrival.ref,),
        ))
    return findings


def _moved_across_a_restart(audit: AuditInput) -> list[Finding]:
    """Facts the monotonic clock of their boot puts later (or earlier) than their wall clock did by more than the
    limit (the loader re-read them): said once each way, by the furthest moved, naming them all."""
    limit = audit.policy.durations.clock_skew_limit
    findings = []
    for direction, sign in (("back", 1), ("ahead", -1)):
        moved = [fact for fact in audit.visit.clock_moved if sign * (fact.by_boot - fact.by_wall) > limit]
        if moved:
            furthest = max(sign * (fact.by_boot - fact.by_wall) for fact in moved)
            findings.append(_moved_finding(direction, moved, furthest, limit))
    return findings


# How the wall clock was moved: the code's word, then how the facts read, in English and in Chinese.
_MOVED_WORDS = {"back": ("earlier", "早", "调慢"), "ahead": ("later", "晚", "调快")}


def _moved_finding(direction: str, moved: list[ClockMovedFacts], furthest: timedelta, limit: timedelta) -> Finding:
    read_en, read_zh, set_zh = _MOVED_WORDS[direction]
    return Finding(
        rule_id="E-CLOCK", code=f"e.clock.set_{direction}_across_restart", severity=WARNING,
        message_en=f"{len(moved)} fact(s) dated by the phone's wall clock up to {minutes(furthest)} min {read_en} "
                   "than the monotonic clock of the boot they were recorded in says "
                   f"(limit {minutes(limit)} min): the clock was set {direction}, and put right before they were sent "
                   "after a restart; the audit reads them by the monotonic clock",
        message_zh=f"{len(moved)} 条记录的手机时间比其所在开机周期的单调时钟{read_zh}最多 {minutes(furthest)} 分钟"
                   f"（上限 {minutes(limit)} 分钟）：时钟曾被{set_zh}，并在重启后发送前改回；稽核按单调时钟计时",
        measured=minutes(furthest), threshold=minutes(limit), unit="min",
        refs=tuple(f"event:{fact.event_id}" for fact in moved),
    )


def _measured_by(sync: ClockSyncFacts) -> tuple[str, ...]:
    return (f"event:{sync.event_id}",) if sync.event_id else ()
