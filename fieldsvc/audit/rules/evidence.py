"""Photo integrity: E-TIME (taken during the visit), E-PLACE (taken at the site), E-EDIT, E-REUSE."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from fieldsvc.audit.facts import PhotoFacts
from fieldsvc.audit.findings import INFO, VIOLATION, WARNING, Finding
from fieldsvc.audit.geometry import distance_m
from fieldsvc.audit.likeness import distinctive, hamming, hash_bits
from fieldsvc.audit.timeline import AuditInput, arrival_checkin, latest_photo_time, photo_time
from fieldsvc.audit.wording import hours, local_time, minutes


def e_time(audit: AuditInput) -> list[Finding]:
    """The photo's own capture time within the visit (with slack); without one it only cannot be verified.

    Its EXIF is corrected like the fact that sent it. When the phone's clock went further wrong between the arrival
    and the upload (by more than the clock-skew limit), the EXIF is also read by the clock the phone had at arrival:
    setting the clock a day back only to send yesterday's photo must not move it into the visit. A clock put right
    meanwhile (by the network) is no such sign: its later photos are read by the clock they were taken with.
    """
    timeline, slack = audit.timeline, audit.policy.durations.photo_time_slack
    arrival_at = timeline.arrival.at if timeline.arrival is not None else None
    departure = timeline.departure
    zone = audit.visit.site.time_zone
    arrival_correction = _arrival_correction(audit)
    findings = []
    dated_signature = tuple(image for image in _signature_image(audit) if image.captured_at is not None)
    for photo in (*audit.visit.photos, *dated_signature):
        refs = (f"photo:{photo.photo_id}",)
        if photo.captured_at is None:
            findings.append(Finding(
                rule_id="E-TIME", code="e.time.missing", severity=WARNING,
                message_en="the photo has no capture time in its EXIF, so when it was taken cannot be verified",
                message_zh="照片EXIF中没有拍摄时间，无法核实拍摄时间",
                measured="no capture time", threshold="an EXIF capture time", refs=refs,
            ))
            continue
        findings += _taken_after_its_upload(photo, slack, zone)
        readings = [(photo_time(photo), latest_photo_time(photo), "", "")]
        change = None if arrival_correction is None else photo.exif_correction - arrival_correction
        went_wrong = change is not None and abs(photo.exif_correction) - abs(arrival_correction) > (
            audit.policy.durations.clock_skew_limit
        )
        if went_wrong:
            by_arrival = photo.captured_at - change
            readings.append((
                by_arrival, by_arrival + (latest_photo_time(photo) - photo.captured_at),
                f" by the phone's clock as it was at arrival (changed by {minutes(abs(change))} min before this "
                "upload)",
                f"（按到达时的手机时钟计，上传前时钟被改动 {minutes(abs(change))} 分钟）",
            ))
        earliest = min(readings, key=lambda reading: reading[1])
        latest = max(readings, key=lambda reading: reading[0])
        if arrival_at is not None and earliest[1] < arrival_at - slack:
            captured, last_moment, how_en, how_zh = earliest
            before = minutes(arrival_at - last_moment)
            findings.append(Finding(
                rule_id="E-TIME", code="e.time.before_arrival", severity=VIOLATION,
                message_en=f"photo taken at {local_time(captured, zone)}{how_en}, {before} min before arrival "
                           f"(allowed {minutes(slack)} min)",
                message_zh=f"照片拍摄于 {local_time(captured, zone)}{how_zh}，早于到达 {before} 分钟"
                           f"（允许 {minutes(slack)} 分钟）",
                measured=-before, threshold=-minutes(slack), unit="min", refs=refs,
            ))
        elif departure is not None and latest[0] > departure + slack:
            captured, _, how_en, how_zh = latest
            after = minutes(captured - departure)
            findings.append(Finding(
                rule_id="E-TIME", code="e.time.after_checkout", severity=VIOLATION,
                message_en=f"photo taken at {local_time(captured, zone)}{how_en}, {after} min after check-out "
                           f"(allowed {minutes(slack)} min)",
                message_zh=f"照片拍摄于 {local_time(captured, zone)}{how_zh}，晚于签退 {after} 分钟"
                           f"（允许 {minutes(slack)} 分钟）",
                measured=after, threshold=minutes(slack), unit="min", refs=refs,
            ))
    return findings


# The clock furthest ahead of UTC (Kiribati's, UTC+14): a camera on any zone's local time runs no further ahead.
_FURTHEST_AHEAD = timedelta(hours=14)


def _taken_after_its_upload(photo: PhotoFacts, slack: timedelta, zone: str) -> list[Finding]:
    """An EXIF capture time later than the photo reached the service (beyond the slack) is not when it was taken, and
    the rules read the photo as taken no later than its upload. Within what a camera on another zone's local time,
    without an offset tag and so read in the site's zone, can be ahead (UTC+14 less the site's offset), it only cannot
    be verified (a warning, like no capture time); further ahead no clock or zone explains it, and the capture time
    was made up (a violation: a photo from yesterday with its date moved ahead passed without a word; probes). A
    capture time with its offset tag is an instant, read in no zone: ahead of the upload it was made up (an old photo
    re-dated an hour ahead, tagged +08:00 like every fact of its phone, passed with a warning; a probe)."""
    ahead = photo.captured_at - photo.received_at if photo.received_at is not None else None
    if ahead is None or ahead <= slack:
        return []
    refs = (f"photo:{photo.photo_id}",)
    site_offset = ZoneInfo(zone).utcoffset(photo.received_at) or timedelta(0)
    reach = slack if photo.capture_offset_tagged else _FURTHEST_AHEAD - site_offset + slack
    hours_ahead, shown = round(hours(ahead), 1), local_time(photo.captured_at, zone)
    if ahead <= reach:
        return [Finding(
            rule_id="E-TIME", code="e.time.after_upload", severity=WARNING,
            message_en=f"the photo's capture time ({shown}) is {hours_ahead} h after it was uploaded: a camera on "
                       "another time zone's clock, or a clock set ahead; when it was taken cannot be verified",
            message_zh=f"照片拍摄时间（{shown}）晚于上传 {hours_ahead} 小时：相机可能使用了其他时区的时间，或时钟被调快；"
                       "无法核实拍摄时间",
            measured=hours_ahead, threshold=hours(slack), unit="h", refs=refs,
        )]
    if photo.capture_offset_tagged:
        beyond_en = f"more than the slack ({hours(reach):.2f} h), with its UTC offset in its EXIF, which no zone moves"
        beyond_zh = f"超过允许偏差（{hours(reach):.2f} 小时），且EXIF注明了UTC偏移，任何时区都无法解释"
    else:
        beyond_en = f"more than a camera on any time zone's clock runs ahead of the site's ({hours(reach):.2f} h)"
        beyond_zh = f"超过任何时区的相机时钟可能领先现场时间的幅度（{hours(reach):.2f} 小时）"
    return [Finding(
        rule_id="E-TIME", code="e.time.impossible", severity=VIOLATION,
        message_en=f"the photo's capture time ({shown}) is {hours_ahead} h after it was uploaded, {beyond_en}: the "
                   "capture time was made up",
        message_zh=f"照片拍摄时间（{shown}）晚于上传 {hours_ahead} 小时，{beyond_zh}：拍摄时间系伪造",
        measured=hours_ahead, threshold=round(hours(reach), 2), unit="h", refs=refs,
    )]


def _signature_image(audit: AuditInput) -> tuple[PhotoFacts, ...]:
    """The signature image, judged like a photo where a camera gave it EXIF (a drawing on the phone's pad has none):
    a photo of a signature taken hours before, or elsewhere, is not the customer signing at the visit."""
    signature = audit.visit.signature
    return () if signature is None or signature.image is None else (signature.image,)


def _arrival_correction(audit: AuditInput) -> timedelta | None:
    """What E-CLOCK added to the trusted arrival's device time (None without a corrected arrival check-in)."""
    checkin = arrival_checkin(audit)
    if checkin is None or checkin.corrected_time is None:
        return None
    return checkin.corrected_time - checkin.device_time


def e_place(audit: AuditInput) -> list[Finding]:
    """A photo without GPS is fine (many phones strip it); one with GPS must have been taken near the site, unless its
    fix is older than the photo by more than a check-in's fix may be: a camera indoors writes its last fix, which
    tells where the phone was then (said, as info: it places the photo nowhere, as no GPS does)."""
    site, policy = audit.visit.site, audit.policy
    allowed = policy.geofence_radius_m + policy.photo_place_slack_m
    stale_after = policy.durations.fix_max_age
    findings = []
    for photo in (*audit.visit.photos, *_signature_image(audit)):
        if photo.latitude is None or photo.longitude is None:
            continue
        distance = distance_m(site.latitude, site.longitude, photo.latitude, photo.longitude)
        if distance <= allowed:
            continue
        fix_age = None if photo.gps_fixed_at is None else photo_time(photo) - photo.gps_fixed_at
        if fix_age is not None and fix_age > stale_after:
            findings.append(Finding(
                rule_id="E-PLACE", code="e.place.stale_fix", severity=INFO,
                message_en=f"the photo's GPS position, {distance:.0f} m from the site, is a fix "
                           f"{minutes(fix_age)} min older than the photo (limit {minutes(stale_after)} min): where "
                           f"the phone last had a fix, not where the photo was taken",
                message_zh=f"照片GPS位置距服务地点 {distance:.0f} 米，但该定位比照片早 {minutes(fix_age)} 分钟"
                           f"（上限 {minutes(stale_after)} 分钟）：是手机上次定位之处，不是拍摄地点",
                measured=minutes(fix_age), threshold=minutes(stale_after), unit="min",
                refs=(f"photo:{photo.photo_id}",),
            ))
        else:
            findings.append(Finding(
                rule_id="E-PLACE", code="e.place.far", severity=VIOLATION,
                message_en=f"the photo's GPS position is {distance:.0f} m from the site (allowed {allowed:.0f} m)",
                message_zh=f"照片GPS位置距服务地点 {distance:.0f} 米（允许 {allowed:.0f} 米）",
                measured=round(distance, 1), threshold=allowed, unit="m", refs=(f"photo:{photo.photo_id}",),
            ))
    return findings


def e_edit(audit: AuditInput) -> list[Finding]:
    editing_program = audit.policy.editing_software_pattern
    return [
        Finding(
            rule_id="E-EDIT", code="e.edit.software", severity=WARNING,
            message_en=f"the photo's EXIF names an editing program: {photo.software}",
            message_zh=f"照片EXIF显示经编辑软件处理：{photo.software}",
            measured=photo.software, threshold="no editing program", refs=(f"photo:{photo.photo_id}",),
        )
        for photo in audit.visit.photos
        if photo.software and editing_program.search(photo.software.lower())
    ]


def e_reuse(audit: AuditInput) -> list[Finding]:
    """The same picture on another visit, by any technician: identical bytes or a perceptual near-duplicate."""
    visit_id = audit.visit.visit_id
    signature = audit.visit.signature
    signature_id = signature.photo_id if signature is not None else None
    # A signature's matches are V-SIGN's (the same file on another visit's signature), never a photo's.
    others = [
        other for other in audit.context.other_photos
        if other.visit_id != visit_id and (signature_id is None or other.matched_photo_id != signature_id)
    ]
    if not others or not audit.visit.photos:
        return []
    policy = audit.policy
    recorded: dict[tuple[str, str], int] = {}  # (this visit's photo, other photo): distance over every orientation
    recorded_fine: dict[tuple[str, str], int] = {}  # the same for the fine hashes, where both photos have one
    copied_later = {  # (this visit's photo, other photo) where the other reached the service after this one
        (other.matched_photo_id, other.photo_id) for other in others if other.received_first is False
    }
    for other in others:
        if other.matched_photo_id is not None and other.recorded_distance is not None:
            pair = (other.matched_photo_id, other.photo_id)
            recorded[pair] = min(recorded.get(pair, 64), other.recorded_distance)
            if other.recorded_fine_distance is not None:
                recorded_fine[pair] = min(recorded_fine.get(pair, 256), other.recorded_fine_distance)
    distinct = {(o.visit_id, o.photo_id): o for o in sorted(others, key=lambda o: (o.visit_id, o.photo_id))}
    other_hashes = [(other, hash_bits(other.perceptual_hash)) for other in distinct.values()]
    limit = policy.reuse_max_distance
    fine_limit = policy.reuse_max_fine_distance
    findings = []
    for photo in audit.visit.photos:
        own_hash = hash_bits(photo.perceptual_hash)
        # A photo ingest matched with another of this visit's photos is that photo's suspect alone: ingest judged
        # the pair with what the hashes leave out (the purpose, the fine hash, every orientation); compared by the
        # coarse hash with a third photo, two speed-test screens with other figures looked like one (a probe).
        suspects = [
            (other, other_hash, distance) for other, other_hash in other_hashes
            if other.matched_photo_id in (None, photo.photo_id) or other.sha256 == photo.sha256
            if (distance := min(hamming(own_hash, other_hash), recorded.get((photo.photo_id, other.photo_id), 64)))
            <= limit or other.sha256 == photo.sha256
        ]
        for other, other_hash, distance in suspects:
            if other.sha256 == photo.sha256:
                code, distance = "e.reuse.identical", 0
                en = f"the same photo file was submitted for visit {other.visit_id}"
                zh = f"同一张照片文件已用于另一次上门（{other.visit_id}）"
            else:
                if not (distinctive(own_hash, policy) and distinctive(other_hash, policy)):
                    continue
                fine = recorded_fine.get((photo.photo_id, other.photo_id))
                if fine is not None and fine > fine_limit:
                    continue  # alike in outline only: the same kind of scene, not the same picture
                code = "e.reuse.near_duplicate"
                fine_en = "" if fine is None else f"; {fine} of 256 fine bits, limit {fine_limit}"
                fine_zh = "" if fine is None else f"；256位细哈希相差 {fine} 位，上限 {fine_limit} 位"
                en = (f"the photo is a near-duplicate of a photo of visit {other.visit_id} "
                      f"({distance} of 64 hash bits differ, limit {limit}{fine_en})")
                zh = (f"照片与另一次上门（{other.visit_id}）的照片几乎相同"
                      f"（64位感知哈希相差 {distance} 位，上限 {limit} 位{fine_zh}）")
            refs = (f"photo:{photo.photo_id}", f"visit:{other.visit_id}/photo:{other.photo_id}")
            if (photo.photo_id, other.photo_id) in copied_later:
                # The photo was here first: the visit that used it again is the one flagged; this one is told.
                findings.append(Finding(
                    rule_id="E-REUSE", code="e.reuse.copied_later", severity=INFO,
                    message_en=f"this photo was submitted again later, for visit {other.visit_id}, which is flagged "
                               f"for it ({code})",
                    message_zh=f"此照片之后又被用于另一次上门（{other.visit_id}），该次上门已被标记（{code}）",
                    measured=float(distance), threshold=float(limit), unit="bits", refs=refs,
                ))
                continue
            findings.append(Finding(
                rule_id="E-REUSE", code=code, severity=VIOLATION, message_en=en, message_zh=zh,
                measured=float(distance), threshold=float(limit), unit="bits", refs=refs,
            ))
    return findings
