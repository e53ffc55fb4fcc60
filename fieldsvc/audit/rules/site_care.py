"""V-SHOES (shoe covers on entering) and V-CLEAN (site-clean photo after the work)."""

from __future__ import annotations

from datetime import datetime

from fieldsvc.audit.facts import PhotoFacts
from fieldsvc.audit.findings import VIOLATION, Finding, refs_to
from fieldsvc.audit.likeness import distinctive, hash_bits, same_picture
from fieldsvc.audit.timeline import (
    AuditInput, away_for_good, latest_photo_time, photo_time, test_time, to_the_second,
)
from fieldsvc.audit.wording import minutes


def v_shoes(audit: AuditInput) -> list[Finding]:
    """Urban: a photo within the window after arrival and before work starts. Rural: presence only (V-CLOSE).

    Decision: a technician who arrives early waits for the agreed time to go in (V-PUNCT asks no more), so the window
    runs from the later of the arrival and the agreed time; the photo must still come before the work starts."""
    if audit.policy.shoe_cover_rule != "photo_within_window":
        return []
    photos = [photo for photo in audit.visit.photos if photo.purpose == "shoe_covers"]
    if not photos:
        return []  # absence is reported as V-SHOES missing once the visit is finished
    arrival, work_started = audit.timeline.arrival, audit.timeline.work_started_at
    window = audit.policy.durations.shoe_cover_window
    going_in = max(arrival.at, audit.visit.agreed_time) if arrival is not None else None
    # Judged to the whole second, as V-PUNCT is: a camera writing sub-seconds must not make 15:00.4 late.
    def in_window(taken: datetime) -> bool:
        return going_in is None or to_the_second(taken - going_in) <= window

    for photo in photos:
        taken = photo_time(photo)
        if in_window(taken) and (work_started is None or taken <= work_started):
            return []
    first = min(photos, key=lambda photo: (photo_time(photo), photo.photo_id))
    taken = photo_time(first)
    refs = refs_to("photo", (photo.photo_id for photo in photos))
    if going_in is not None and not in_window(taken):
        since = "arrival" if going_in == arrival.at else "the agreed time (arrived early)"
        since_zh = "到达" if going_in == arrival.at else "约定时间（提前到达）"
        return [Finding(
            rule_id="V-SHOES", code="v.shoes.late", severity=VIOLATION,
            message_en=f"first shoe-cover photo taken {minutes(taken - going_in)} min after {since} "
                       f"(limit {minutes(window)} min)",
            message_zh=f"第一张鞋套照片在{since_zh}后 {minutes(taken - going_in)} 分钟拍摄（上限 {minutes(window)} 分钟）",
            measured=minutes(taken - going_in), threshold=minutes(window), unit="min", refs=refs,
        )]
    assert work_started is not None  # the first photo is in the window, so it failed only on the work start
    return [Finding(
        rule_id="V-SHOES", code="v.shoes.after_work_start", severity=VIOLATION,
        message_en=f"first shoe-cover photo taken {minutes(taken - work_started)} min after work started",
        message_zh=f"第一张鞋套照片在开始施工后 {minutes(taken - work_started)} 分钟才拍摄",
        measured=minutes(taken - work_started), threshold=0.0, unit="min", refs=refs,
    )]


# Pictures of the visit before the work: sent again as the site-clean photo they show nothing of the clean-up.
BEFORE_WORK_PURPOSES = frozenset({"shoe_covers", "tool_mat", "before"})
# Those a site-clean photo must not even look like. Not "before": a room put back as it was found, photographed from
# the same spot, looks like the picture of it before the work, and should; only that very file again is no clean-up.
UNLIKE_CLEAN_UP_PURPOSES = frozenset({"shoe_covers", "tool_mat"})


def _before_work_photos(audit: AuditInput) -> list[PhotoFacts]:
    return [photo for photo in audit.visit.photos if photo.purpose in BEFORE_WORK_PURPOSES]


def new_clean_photos(audit: AuditInput) -> list[PhotoFacts]:
    """Site-clean photos that are not a picture from before the work again: the same file, or a copy of the
    shoe-cover or tool-mat photo, also turned or mirrored (that ingest compared over every orientation)."""
    clean = [photo for photo in audit.visit.photos if photo.purpose == "site_clean"]
    if not clean:
        return []
    before_work, turned = _before_work_photos(audit), _turned_copies(audit)
    return [
        photo for photo in clean
        if not any(photo.sha256 == earlier.sha256 for earlier in before_work)
        and not any(
            same_picture(photo, earlier, audit.policy) or (photo.photo_id, earlier.photo_id) in turned
            for earlier in before_work if earlier.purpose in UNLIKE_CLEAN_UP_PURPOSES
        )
    ]


def _turned_copies(audit: AuditInput) -> set[tuple[str, str]]:
    """Pairs of this visit's photos (either way round) that ingest found alike over every orientation, by both
    hashes, neither featureless."""
    policy, own = audit.policy, {photo.photo_id: photo for photo in audit.visit.photos}
    pairs = set()
    for match in audit.context.other_photos:
        photo, other = own.get(match.matched_photo_id or ""), own.get(match.photo_id)
        if match.visit_id != audit.visit.visit_id or photo is None or other is None:
            continue
        if (
            match.recorded_distance is not None and match.recorded_distance <= policy.reuse_max_distance
            and match.recorded_fine_distance is not None
            and match.recorded_fine_distance <= policy.reuse_max_fine_distance
            and distinctive(hash_bits(photo.perceptual_hash), policy)
            and distinctive(hash_bits(other.perceptual_hash), policy)
        ):
            pairs |= {(photo.photo_id, other.photo_id), (other.photo_id, photo.photo_id)}
    return pairs


def clean_photos_after_work(audit: AuditInput, fresh: list[PhotoFacts] | None = None) -> list[PhotoFacts]:
    """Site-clean photos that can show the result of the work (all new ones when work start is unknown); `fresh`:
    new_clean_photos(audit), if the caller has it already."""
    work_started = audit.timeline.work_started_at
    return [
        photo for photo in (new_clean_photos(audit) if fresh is None else fresh)
        if work_started is None or latest_photo_time(photo) >= work_started
    ]


def v_clean(audit: AuditInput) -> list[Finding]:
    """A "clean" photo taken before the tools came out, or sent before for something else, shows nothing about the
    clean-up."""
    clean = [photo for photo in audit.visit.photos if photo.purpose == "site_clean"]
    if not clean:
        return []  # absence is V-CLEAN missing; ordering against the signature is V-SIGN's
    fresh = new_clean_photos(audit)
    if not fresh:
        copied = [
            earlier for earlier in _before_work_photos(audit)
            if any(same_picture(photo, earlier, audit.policy) for photo in clean)
        ]
        return [Finding(
            rule_id="V-CLEAN", code="v.clean.not_new", severity=VIOLATION,
            message_en="every site-clean photo is a picture from before the work (shoe covers, tool mat or "
                       "before) sent again",
            message_zh="所有场地清洁照片都是施工前的照片（鞋套、工作台布或施工前）重复提交",
            measured=0.0, threshold=1.0, unit="new site-clean photos",
            refs=refs_to("photo", (photo.photo_id for photo in (*clean, *copied))),
        )]
    work_started = audit.timeline.work_started_at
    if work_started is not None and not clean_photos_after_work(audit, fresh):
        latest = max(latest_photo_time(photo) for photo in fresh)
        return [Finding(
            rule_id="V-CLEAN", code="v.clean.before_work", severity=VIOLATION,
            message_en=f"every site-clean photo was taken before the work started (latest "
                       f"{minutes(work_started - latest)} min before)",
            message_zh=f"所有场地清洁照片都在开始施工前拍摄（最晚一张早于开工 {minutes(work_started - latest)} 分钟）",
            measured=minutes(latest - work_started), threshold=0.0, unit="min",
            refs=refs_to("photo", (photo.photo_id for photo in fresh)),
        )]
    if not audit.visit.tests:
        return []
    # The first service test ends the work; the clean-up may come a little before it (tidying while the test runs,
    # also one the customer then rejects and a re-test follows), not at the start with the work still ahead (a clean
    # photo 1 min after the tools came out and 39 min before the test passed; a probe). Leaving for good ends the work
    # at the site too: a fault then fixed at the street cabinet is tested from there (a probe).
    first_test = min(audit.visit.tests, key=lambda test: (test_time(test), test.event_id))
    work_done = min([test_time(first_test), *(leave.left_at for leave, back in away_for_good(audit) if back is None)])
    slack = audit.policy.durations.photo_time_slack
    latest = max(latest_photo_time(photo) for photo in fresh)
    if latest >= work_done - slack:
        return []
    refs = refs_to("photo", (photo.photo_id for photo in fresh))
    return [Finding(
        rule_id="V-CLEAN", code="v.clean.long_before_test", severity=VIOLATION,
        message_en=f"every site-clean photo was taken long before the work ended, at the first service test or on "
                   f"leaving for good (latest "
                   f"{minutes(work_done - latest)} min before, allowed {minutes(slack)} min): the work was not done",
        message_zh=f"所有场地清洁照片都远早于施工结束（首次测试验收或离开不再返回）"
                   f"（最晚一张早 {minutes(work_done - latest)} 分钟，允许 {minutes(slack)} 分钟）：施工尚未完成",
        measured=minutes(latest - work_done), threshold=-minutes(slack), unit="min",
        refs=refs + (f"test:{first_test.event_id}",),
    )]
