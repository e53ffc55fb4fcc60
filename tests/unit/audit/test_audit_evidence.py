"""Photo integrity (E-TIME, E-PLACE, E-EDIT, E-REUSE) and device clock (E-CLOCK)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from fieldsvc.audit.facts import ClockMovedFacts, ClockSyncFacts, OtherVisitPhoto
from fieldsvc.audit.policy import load_default_policies

from tests.unit.audit.builders import (
    SITE_LAT, VISIT_ID, at, audit, codes, context, finding, flipped, honest_urban_install, moved, photo, policy_for,
    replace_photos,
)

ARRIVAL, CHECKOUT = at(9, 57), at(11, 12)  # the honest urban install's


def with_extra_photo(extra):  # noqa: ANN001, ANN201
    visit = honest_urban_install()
    return replace(visit, photos=visit.photos + (extra,))


def test_e_time_photo_exactly_at_the_slack_before_arrival_passes() -> None:
    assert audit(with_extra_photo(photo("before", ARRIVAL - timedelta(minutes=15)))).findings == ()


def test_e_time_photo_one_second_before_the_slack_is_violation() -> None:
    verdict = audit(with_extra_photo(photo("before", ARRIVAL - timedelta(minutes=15, seconds=1))))

    early = finding(verdict, "e.time.before_arrival")
    assert (early.rule_id, early.severity, early.threshold) == ("E-TIME", "violation", -15.0)


def test_e_time_photo_whose_exif_names_the_second_of_the_slack_edge_passes() -> None:
    edge = ARRIVAL + timedelta(milliseconds=10) - timedelta(minutes=15)  # the phone arrived 10 ms into the second
    visit = replace(honest_urban_install(), checkins=tuple(
        replace(fix, device_time=fix.device_time + timedelta(milliseconds=10), corrected_time=fix.corrected_time
                + timedelta(milliseconds=10), received_at=fix.received_at + timedelta(milliseconds=10))
        if fix.kind == "arrival" else fix for fix in honest_urban_install().checkins
    ))
    named_second = replace(
        photo("before", edge.replace(microsecond=0)), captured_to_the_second=True, recorded_at=ARRIVAL
    )

    assert audit(replace(visit, photos=visit.photos + (named_second,))).findings == ()


def test_e_time_yesterdays_photo_sent_with_the_clock_set_a_day_back_for_the_upload_is_violation() -> None:
    # The upload's offset (+24 h) moved yesterday's EXIF to 10:30 today; at arrival the clock was right.
    laundered = replace(photo("before", at(10, 30)), exif_correction=timedelta(hours=24))

    early = finding(audit(with_extra_photo(laundered)), "e.time.before_arrival")
    assert early.measured == -1407.01  # 23 h 27 min before the arrival, by a clock then 0.8 s fast
    assert "clock as it was at arrival" in early.message_en


def test_e_time_a_clock_put_right_by_the_network_after_arrival_leaves_photos_in_the_visit() -> None:
    visit = honest_urban_install()
    five_fast = replace(visit.checkins[0], device_time=visit.checkins[0].corrected_time + timedelta(minutes=5))
    visit = replace(visit, checkins=(five_fast, *visit.checkins[1:]))  # arrival corrected by -5 min; photos by 0

    assert "E-TIME" not in {f.rule_id for f in audit(visit).findings}


def arrived_with_clock_off(by: timedelta):  # noqa: ANN201
    """An honest visit whose phone clock was `by` off at arrival and put right (by the network) right after it."""
    visit = honest_urban_install()
    off = replace(visit.checkins[0], device_time=visit.checkins[0].corrected_time + by)
    return replace(visit, checkins=(off, *visit.checkins[1:]))


def test_e_time_a_photo_just_after_an_arrival_17_min_fast_then_put_right_is_in_the_visit() -> None:
    visit = arrived_with_clock_off(timedelta(minutes=17))
    just_after = photo("before", ARRIVAL + timedelta(minutes=1))

    assert "E-TIME" not in {f.rule_id for f in audit(replace(visit, photos=visit.photos + (just_after,))).findings}


def test_e_time_a_photo_just_before_checkout_after_an_arrival_17_min_slow_then_put_right_is_in_the_visit() -> None:
    visit = arrived_with_clock_off(-timedelta(minutes=17))
    just_before = photo("after", CHECKOUT - timedelta(minutes=1))

    assert "E-TIME" not in {f.rule_id for f in audit(replace(visit, photos=visit.photos + (just_before,))).findings}


def test_e_time_photo_whose_exif_names_the_millisecond_of_the_slack_edge_passes() -> None:
    arrival = honest_urban_install().checkins[0]
    late_by = timedelta(microseconds=10_994)  # the arrival is at .010994; EXIF sub-seconds say .010
    moved = replace(arrival, device_time=arrival.device_time + late_by, corrected_time=arrival.corrected_time + late_by,
                    received_at=arrival.received_at + late_by)
    visit = replace(honest_urban_install(), checkins=(moved, *honest_urban_install().checkins[1:]))
    edge = replace(photo("before", ARRIVAL - timedelta(minutes=15) + timedelta(milliseconds=10)), recorded_at=ARRIVAL)

    assert audit(replace(visit, photos=visit.photos + (edge,))).findings == ()


def test_e_time_photo_one_second_after_checkout_slack_is_violation() -> None:
    verdict = audit(with_extra_photo(photo("after", CHECKOUT + timedelta(minutes=15, seconds=1))))

    assert finding(verdict, "e.time.after_checkout").measured == 15.02


def test_e_time_photo_exactly_at_the_slack_after_checkout_passes() -> None:
    assert audit(with_extra_photo(photo("after", CHECKOUT + timedelta(minutes=15)))).findings == ()


def test_e_time_missing_capture_time_is_only_a_warning() -> None:
    verdict = audit(with_extra_photo(photo("after", at(11, 0), exif_time=False)))

    assert finding(verdict, "e.time.missing").severity == "warning"
    assert verdict.status == "passed"


def uploaded_at(when, captured_ahead: timedelta):  # noqa: ANN001, ANN201
    """A photo uploaded at `when` whose EXIF names a time `captured_ahead` of that."""
    return replace(photo("after", when), captured_at=when + captured_ahead, received_at=when)


def test_e_time_a_capture_time_15_min_after_the_upload_is_within_the_slack() -> None:
    assert audit(with_extra_photo(uploaded_at(at(11, 0), timedelta(minutes=15)))).findings == ()


def test_e_time_a_capture_time_two_hours_after_the_upload_cannot_be_verified_a_camera_on_another_zone() -> None:
    verdict = audit(with_extra_photo(uploaded_at(at(11, 0), timedelta(hours=2))))

    ahead = finding(verdict, "e.time.after_upload")
    assert (ahead.severity, ahead.measured, ahead.unit, verdict.status) == ("warning", 2.0, "h", "passed")


def test_e_time_a_capture_time_a_year_after_the_upload_was_made_up() -> None:
    verdict = audit(with_extra_photo(uploaded_at(at(11, 0), timedelta(days=365))))

    made_up = finding(verdict, "e.time.impossible")
    assert (made_up.severity, made_up.measured, made_up.threshold) == ("violation", 8760.0, 6.25)  # Shanghai, UTC+8


def test_e_time_a_capture_time_six_hours_after_the_upload_at_a_utc_8_site_is_a_camera_on_kiribati_time() -> None:
    verdict = audit(with_extra_photo(uploaded_at(at(11, 0), timedelta(hours=6, minutes=15))))

    assert "e.time.impossible" not in codes(verdict)
    assert finding(verdict, "e.time.after_upload").measured == 6.2


def test_e_time_a_capture_time_with_its_offset_tag_an_hour_after_the_upload_was_made_up() -> None:
    tagged = replace(uploaded_at(at(11, 0), timedelta(hours=1)), capture_offset_tagged=True)

    made_up = finding(audit(with_extra_photo(tagged)), "e.time.impossible")

    assert (made_up.severity, made_up.measured, made_up.threshold) == ("violation", 1.0, 0.25)


def test_e_time_a_capture_time_with_its_offset_tag_15_min_after_the_upload_is_within_the_slack() -> None:
    tagged = replace(uploaded_at(at(11, 0), timedelta(minutes=15)), capture_offset_tagged=True)

    assert audit(with_extra_photo(tagged)).findings == ()


def test_e_time_a_capture_time_ten_hours_after_the_upload_at_a_utc_8_site_no_zone_explains() -> None:
    verdict = audit(with_extra_photo(uploaded_at(at(11, 0), timedelta(hours=10))))

    assert finding(verdict, "e.time.impossible").severity == "violation"


def test_e_place_photo_without_gps_is_fine() -> None:
    assert audit(with_extra_photo(photo("after", at(11, 0), gps=False))).findings == ()


def test_e_place_photo_gps_beyond_radius_plus_slack_is_violation() -> None:
    latitude, longitude = moved(201.0, 0.0)
    verdict = audit(with_extra_photo(replace(photo("after", at(11, 0)), latitude=latitude, longitude=longitude)))

    far = finding(verdict, "e.place.far")
    assert (far.threshold, far.unit) == (200.0, "m") and 200.9 < far.measured < 201.1


def far_photo_fixed_before_it(fix_age: timedelta):  # noqa: ANN201
    latitude, longitude = moved(2500.0, 0.0)
    taken = at(11, 0)
    return replace(photo("after", taken), latitude=latitude, longitude=longitude, gps_fixed_at=taken - fix_age)


def test_e_place_a_far_position_from_a_fix_older_than_the_photo_by_more_than_the_fix_age_limit_is_info() -> None:
    verdict = audit(with_extra_photo(far_photo_fixed_before_it(timedelta(minutes=10, seconds=1))))

    stale = finding(verdict, "e.place.stale_fix")
    assert (stale.severity, stale.measured, stale.threshold, stale.unit) == ("info", 10.02, 10.0, "min")
    assert verdict.status == "passed"


def test_e_place_a_far_position_from_a_fix_as_old_as_the_fix_age_limit_is_violation() -> None:
    verdict = audit(with_extra_photo(far_photo_fixed_before_it(timedelta(minutes=10))))

    assert "e.place.far" in codes(verdict) and "e.place.stale_fix" not in codes(verdict)


def test_e_place_photo_gps_within_radius_plus_slack_passes() -> None:
    latitude, longitude = moved(199.0, 0.0)

    near = replace(photo("after", at(11, 0)), latitude=latitude, longitude=longitude)

    assert audit(with_extra_photo(near)).findings == ()


def test_e_edit_editing_program_in_exif_is_a_warning() -> None:
    verdict = audit(with_extra_photo(photo("after", at(11, 0), software="Adobe Photoshop Lightroom 7.1")))

    edited = finding(verdict, "e.edit.software")
    assert edited.severity == "warning" and edited.measured == "Adobe Photoshop Lightroom 7.1"
    assert verdict.status == "passed"


def test_e_edit_a_picture_made_in_canva_is_a_warning_from_policy_version_2() -> None:
    edited = with_extra_photo(photo("after", at(11, 0), software="Canva"))

    assert finding(audit(edited), "e.edit.software").severity == "warning"
    assert audit(edited, policy=load_default_policies().get("install.urban", 1)).findings == ()  # old verdicts stand


@pytest.mark.parametrize("program", ["MTXX", "Xingtu 8.1", "Hypic", "Wink", "BeautyPlus 7.5", "HDR+ 1.0 / Snapseed"])
def test_e_edit_beauty_and_retouching_apps_are_a_warning_from_policy_version_3(program: str) -> None:
    edited = with_extra_photo(photo("after", at(11, 0), software=program))

    assert finding(audit(edited), "e.edit.software").severity == "warning"


def test_e_edit_camera_firmware_is_not_an_editing_program() -> None:
    assert audit(with_extra_photo(photo("after", at(11, 0), software="HUAWEI P60 Pro Camera"))).findings == ()


def clean_photo():  # noqa: ANN201
    return next(p for p in honest_urban_install().photos if p.purpose == "site_clean")


def test_e_reuse_identical_photo_on_another_visit_is_violation() -> None:
    clean = clean_photo()
    reused = OtherVisitPhoto("visit-77", "p-77", clean.sha256, clean.perceptual_hash)

    verdict = audit(honest_urban_install(), context(other_photos=(reused,)))

    identical = finding(verdict, "e.reuse.identical")
    assert identical.refs == (f"photo:{clean.photo_id}", "visit:visit-77/photo:p-77")
    assert verdict.status == "flagged"


def test_e_reuse_a_photo_used_again_later_at_another_visit_leaves_the_original_an_info_finding_only() -> None:
    clean = clean_photo()
    copy_sent_later = OtherVisitPhoto("visit-77", "p-77", clean.sha256, clean.perceptual_hash, clean.photo_id, 0,
                                      received_first=False)

    verdict = audit(honest_urban_install(), context(other_photos=(copy_sent_later,)))

    told = finding(verdict, "e.reuse.copied_later")
    assert (told.severity, told.refs[-1], verdict.status) == ("info", "visit:visit-77/photo:p-77", "passed")


def test_e_reuse_near_duplicate_on_other_visit_is_violation() -> None:
    clean = clean_photo()
    recompressed = OtherVisitPhoto("visit-78", "p-78", "0" * 64, flipped(clean.perceptual_hash, 6))

    near = finding(audit(honest_urban_install(), context(other_photos=(recompressed,))), "e.reuse.near_duplicate")
    assert (near.measured, near.threshold, near.unit) == (6.0, 6.0, "bits")


def test_e_reuse_a_copy_ingest_matched_turned_or_mirrored_is_a_near_duplicate() -> None:
    clean = clean_photo()
    turned = OtherVisitPhoto("visit-81", "p-81", "0" * 64, flipped(clean.perceptual_hash, 30), clean.photo_id, 2)

    near = finding(audit(honest_urban_install(), context(other_photos=(turned,))), "e.reuse.near_duplicate")
    assert (near.measured, near.refs) == (2.0, (f"photo:{clean.photo_id}", "visit:visit-81/photo:p-81"))


def test_e_reuse_a_lookalike_whose_fine_hashes_differ_is_a_different_photo() -> None:
    clean = clean_photo()
    # Ingest matched them on the coarse 64 bits (the same kind of floor and feet), but 17 of the 256 fine bits differ.
    lookalike = OtherVisitPhoto("visit-82", "p-82", "0" * 64, flipped(clean.perceptual_hash, 6), clean.photo_id, 6, 17)

    assert audit(honest_urban_install(), context(other_photos=(lookalike,))).findings == ()


def test_e_reuse_a_near_duplicate_at_the_fine_limit_is_a_violation() -> None:
    clean = clean_photo()
    resaved = OtherVisitPhoto("visit-83", "p-83", "0" * 64, flipped(clean.perceptual_hash, 3), clean.photo_id, 3, 12)

    near = finding(audit(honest_urban_install(), context(other_photos=(resaved,))), "e.reuse.near_duplicate")
    assert (near.measured, near.threshold) == (3.0, 6.0)
    assert "12 of 256 fine bits, limit 12" in near.message_en


def test_e_reuse_a_different_shoe_cover_shot_13_fine_bits_apart_is_no_reuse() -> None:
    """Two visits' shoe-cover photos on similar tiles, feet a little elsewhere, came 13 to 16 bits apart (a probe)."""
    clean = clean_photo()
    alike = OtherVisitPhoto("visit-84", "p-84", "0" * 64, flipped(clean.perceptual_hash, 3), clean.photo_id, 3, 13)

    assert "e.reuse.near_duplicate" not in codes(audit(honest_urban_install(), context(other_photos=(alike,))))


def test_e_reuse_a_photo_ingest_matched_with_another_of_the_visits_photos_is_not_held_against_this_one() -> None:
    """Ingest matched their screen with our "after" photo and judged them different by the fine hash; our test-result
    screen, 5 coarse bits from theirs, was then flagged as a copy of it (a probe: two speed tests, other figures)."""
    after = photo("after", at(11, 0))
    screen = replace(photo("test_result", at(10, 50)), perceptual_hash=flipped(after.perceptual_hash, 5))
    visit = replace(honest_urban_install(), photos=honest_urban_install().photos + (after, screen))
    theirs = OtherVisitPhoto("visit-85", "p-85", "0" * 64, after.perceptual_hash, after.photo_id, 6, 24)

    assert "e.reuse.near_duplicate" not in codes(audit(visit, context(other_photos=(theirs,))))


def test_e_reuse_seven_bits_apart_is_a_different_photo() -> None:
    clean = clean_photo()
    similar = OtherVisitPhoto("visit-79", "p-79", "0" * 64, flipped(clean.perceptual_hash, 7))

    assert audit(honest_urban_install(), context(other_photos=(similar,))).findings == ()


def test_e_reuse_photos_of_the_same_visit_are_not_reuse() -> None:
    clean = clean_photo()
    own = OtherVisitPhoto(VISIT_ID, "p-own", clean.sha256, clean.perceptual_hash)

    assert audit(honest_urban_install(), context(other_photos=(own,))).findings == ()


def test_e_reuse_featureless_pictures_are_not_near_duplicates() -> None:
    blank = replace(photo("site_clean", at(11, 2)), perceptual_hash="0000000000000080")
    other_blank = OtherVisitPhoto("visit-80", "p-80", "0" * 64, "0000000000000000")
    visit = replace_photos(honest_urban_install(), "site_clean", blank)

    assert audit(visit, context(other_photos=(other_blank,))).findings == ()


def test_e_clock_skew_over_the_limit_is_a_warning() -> None:
    visit = replace(honest_urban_install(), clock_syncs=(ClockSyncFacts(at(11, 0), -121.0),))

    skew = finding(audit(visit), "e.clock.skew")
    assert (skew.rule_id, skew.severity, skew.measured, skew.threshold) == ("E-CLOCK", "warning", -121.0, 120.0)


def test_e_clock_skew_at_the_limit_passes() -> None:
    visit = replace(honest_urban_install(), clock_syncs=(ClockSyncFacts(at(11, 0), 120.0),))

    assert audit(visit).findings == ()


def test_e_clock_offset_changing_between_syncs_is_a_warning() -> None:
    syncs = (ClockSyncFacts(at(9, 0), -100.0), ClockSyncFacts(at(11, 0), 50.0))
    visit = replace(honest_urban_install(), clock_syncs=syncs)

    assert codes(audit(visit)) == {"e.clock.changed"}


def test_e_clock_two_phones_of_a_visit_handed_over_reading_differently_is_no_change_of_clock() -> None:
    syncs = (ClockSyncFacts(at(9, 0), -100.0, "on-my-way", "first"), ClockSyncFacts(at(11, 0), 15.0, "arrival", "second"))
    visit = replace(honest_urban_install(), clock_syncs=syncs)

    assert "e.clock.changed" not in codes(audit(visit))


def test_e_clock_limit_comes_from_the_policy() -> None:
    visit = replace(honest_urban_install(), clock_syncs=(ClockSyncFacts(at(11, 0), 90.0),))
    strict = replace(policy_for(visit), clock_skew_limit_s=60.0)

    assert "e.clock.skew" in codes(audit(visit, policy=strict))


def signed_with_image(image):  # noqa: ANN001, ANN201
    visit = honest_urban_install()
    return replace(visit, signature=replace(visit.signature, photo_id=image.photo_id, image=image))


def test_e_time_a_signature_photographed_three_hours_before_arrival_is_violation() -> None:
    taken_earlier = replace(photo("signature", at(11, 5), photo_id="signature-image"), captured_at=at(6, 57))

    early = finding(audit(signed_with_image(taken_earlier)), "e.time.before_arrival")
    assert early.refs == ("photo:signature-image",) and early.measured == -180.0


def test_e_place_a_signature_photographed_far_from_the_site_is_violation() -> None:
    elsewhere = replace(photo("signature", at(11, 5), photo_id="signature-image"), latitude=SITE_LAT + 1.0)

    assert finding(audit(signed_with_image(elsewhere)), "e.place.far").refs == ("photo:signature-image",)


def test_e_time_a_signature_drawn_on_the_phone_without_exif_is_no_missing_capture_time() -> None:
    drawn = photo("signature", at(11, 5), photo_id="signature-image", gps=False, software=None, exif_time=False)

    assert audit(signed_with_image(drawn)).findings == ()


@pytest.mark.parametrize(("set_back", "said"), [(timedelta(minutes=2), False), (timedelta(minutes=25), True)])
def test_e_clock_a_clock_set_back_across_a_restart_is_said_beyond_the_limit(set_back: timedelta, said: bool) -> None:
    step_at = at(10, 30)
    visit = replace(honest_urban_install(), clock_moved=(ClockMovedFacts("step-1", step_at - set_back, step_at),))

    verdict = audit(visit)

    assert ("e.clock.set_back_across_restart" in codes(verdict)) is said
