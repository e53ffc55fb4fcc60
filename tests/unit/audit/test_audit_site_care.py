"""V-SHOES (urban window vs rural flexibility), V-CLEAN and V-SIGN."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from fieldsvc.audit.facts import NoteFacts, OtherVisitPhoto, ServiceTestFacts, StepFacts

from tests.unit.audit.builders import (
    at, audit, codes, context, finding, flipped, honest_rural_repair, honest_urban_install, photo, policy_for,
    replace_photos,
)

ARRIVAL = at(9, 57)  # the honest urban install's arrival, 3 min before the agreed 10:00
GOING_IN = at(10, 0)  # the window runs from the later of the arrival and the agreed time


def urban_with_shoe_photo_at(when):  # noqa: ANN001, ANN201
    visit = replace_photos(honest_urban_install(), "shoe_covers", photo("shoe_covers", when))
    # work starts later than the window so that only the window is under test
    return replace(visit, steps=(StepFacts("step-id", "V-ID", at(9, 58)), StepFacts("step-mat", "V-MAT", at(10, 20))),
                   photos=tuple(p for p in visit.photos if p.purpose != "tool_mat"))


def test_v_shoes_urban_photo_exactly_at_the_end_of_the_window_passes() -> None:
    verdict = audit(urban_with_shoe_photo_at(GOING_IN + timedelta(minutes=15)))

    assert verdict.findings == ()


def test_v_shoes_urban_photo_within_the_second_ending_the_window_passes_as_v_punct_judges_to_the_second() -> None:
    """A camera writing sub-seconds stamped 15:00.4 after arrival; one writing none passed the same shot (a probe)."""
    verdict = audit(urban_with_shoe_photo_at(GOING_IN + timedelta(minutes=15, milliseconds=400)))

    assert verdict.findings == ()


def test_v_shoes_urban_photo_one_second_outside_the_window_is_violation() -> None:
    verdict = audit(urban_with_shoe_photo_at(GOING_IN + timedelta(minutes=15, seconds=1)))

    late = finding(verdict, "v.shoes.late")
    assert (late.rule_id, late.severity, late.threshold, late.unit) == ("V-SHOES", "violation", 15.0, "min")
    assert late.measured == 15.02


def test_v_shoes_arriving_25_min_early_and_going_in_at_the_agreed_time_the_window_runs_from_the_agreed_time() -> None:
    visit = urban_with_shoe_photo_at(at(9, 58))  # went in just before 10:00, having arrived at 9:35
    early = replace(visit, checkins=(replace(visit.checkins[0], device_time=at(9, 35), received_at=at(9, 35),
                                             corrected_time=at(9, 35)), *visit.checkins[1:]))

    assert "V-SHOES" not in {f.rule_id for f in audit(early).findings}


def test_v_shoes_arriving_late_the_window_runs_from_the_arrival() -> None:
    visit = urban_with_shoe_photo_at(at(10, 21))
    late = replace(visit, checkins=(replace(visit.checkins[0], device_time=at(10, 5), received_at=at(10, 5),
                                            corrected_time=at(10, 5)), *visit.checkins[1:]))

    assert finding(audit(late), "v.shoes.late").measured == 16.0


def test_v_shoes_urban_photo_after_work_started_is_violation() -> None:
    visit = replace_photos(honest_urban_install(), "shoe_covers", photo("shoe_covers", at(10, 8)))  # mat at 10:06

    assert finding(audit(visit), "v.shoes.after_work_start").measured == 2.0


def test_v_shoes_urban_any_photo_in_time_satisfies_the_rule() -> None:
    visit = replace_photos(honest_urban_install(), "shoe_covers",
                           photo("shoe_covers", at(10, 1)), photo("shoe_covers", at(10, 40)))

    assert audit(visit).findings == ()


def test_v_shoes_urban_needs_a_photo_and_a_reason_is_not_enough() -> None:
    visit = replace_photos(honest_urban_install(), "shoe_covers")
    visit = replace(visit, notes=(NoteFacts("n", "V-SHOES", "customer said no need", at(9, 59)),))

    missing = finding(audit(visit), "v.shoes.missing")
    assert missing.severity == "violation" and missing.message_en == "no shoe-cover photo"


def test_v_shoes_rural_reason_without_photo_passes() -> None:
    visit = honest_rural_repair()

    assert not any(p.purpose == "shoe_covers" for p in visit.photos)
    assert "V-SHOES" not in {f.rule_id for f in audit(visit).findings}


def test_v_shoes_rural_reason_given_as_the_shoe_cover_steps_note_passes() -> None:
    visit = replace(honest_rural_repair(), notes=())
    visit = replace(visit, steps=visit.steps + (StepFacts("step-shoes", "V-SHOES", at(14, 11), "tiled floor wet"),))

    assert "V-SHOES" not in {f.rule_id for f in audit(visit).findings}


def test_v_shoes_rural_late_photo_is_accepted_flexibly() -> None:
    visit = replace(honest_rural_repair(), notes=())
    visit = replace(visit, photos=visit.photos + (photo("shoe_covers", at(15, 0)),))

    assert "V-SHOES" not in {f.rule_id for f in audit(visit).findings}


def test_v_shoes_rural_without_photo_or_reason_is_violation() -> None:
    visit = replace(honest_rural_repair(), notes=(NoteFacts("n", "V-SHOES", "   ", at(14, 11)),))

    assert finding(audit(visit), "v.shoes.missing").message_zh == "既无鞋套照片也未注明原因"


@pytest.mark.parametrize("text", [".", "x", "1 2"])
def test_v_shoes_rural_reason_of_a_mark_a_letter_or_digits_is_no_reason(text: str) -> None:
    visit = replace(honest_rural_repair(), notes=(NoteFacts("n", "V-SHOES", text, at(14, 11)),))

    assert "v.shoes.missing" in codes(audit(visit))


def test_v_shoes_rural_reason_in_two_chinese_characters_is_a_reason() -> None:
    visit = replace(honest_rural_repair(), notes=(NoteFacts("n", "V-SHOES", "泥地", at(14, 11)),))

    assert "V-SHOES" not in {f.rule_id for f in audit(visit).findings}


def test_v_shoes_same_visit_judged_urban_or_rural_by_the_policy() -> None:
    visit = replace_photos(honest_urban_install(), "shoe_covers")
    visit = replace(visit, notes=(NoteFacts("n", "V-SHOES", "dirt-floor yard", at(9, 59)),))

    assert "v.shoes.missing" in codes(audit(visit, policy=policy_for(visit, "urban")))
    assert "v.shoes.missing" not in codes(audit(visit, policy=policy_for(visit, "rural")))


def test_v_clean_missing_site_clean_photo_is_violation() -> None:
    visit = replace_photos(honest_urban_install(), "site_clean")

    missing = finding(audit(visit), "v.clean.missing")
    assert missing.rule_id == "V-CLEAN" and missing.message_zh == "缺少场地清洁照片"


def test_v_clean_photo_taken_before_the_work_started_is_violation() -> None:
    visit = replace_photos(honest_urban_install(), "site_clean", photo("site_clean", at(10, 3)))

    before = finding(audit(visit), "v.clean.before_work")
    assert before.measured == -3.0 and before.refs == ("photo:site_clean-020300",)


def test_v_clean_photo_taken_while_a_rejected_test_ran_before_an_accepted_re_test_passes() -> None:
    rejected = ServiceTestFacts("test-0", at(10, 40), False, download_mbps=20.0)
    visit = replace_photos(honest_urban_install(), "site_clean", photo("site_clean", at(10, 30)))
    visit = replace(visit, tests=(rejected, *visit.tests))  # the accepted re-test at 10:50

    assert "v.clean.long_before_test" not in codes(audit(visit))


def test_v_clean_photo_taken_with_the_work_still_ahead_long_before_the_first_test_is_violation() -> None:
    visit = replace_photos(honest_urban_install(), "site_clean", photo("site_clean", at(10, 34, 59)))  # test at 10:50

    early = finding(audit(visit), "v.clean.long_before_test")
    assert (early.measured, early.threshold, early.refs[-1]) == (-15.02, -15.0, "test:test-1")


def test_v_clean_photo_taken_while_the_test_runs_up_to_the_photo_slack_before_it_passes() -> None:
    visit = replace_photos(honest_urban_install(), "site_clean", photo("site_clean", at(10, 35)))

    assert audit(visit).findings == ()


def work_starting_at(visit, started):  # noqa: ANN001, ANN201
    """The visit with its V-MAT confirmed at `started` and its tool-mat photo taken then too."""
    steps = tuple(replace(step, confirmed_at=started) if step.step == "V-MAT" else step for step in visit.steps)
    photos = tuple(
        replace(photo, captured_at=started, recorded_at=started) if photo.purpose == "tool_mat" else photo
        for photo in visit.photos
    )
    return replace(visit, steps=steps, photos=photos)


def test_v_clean_photo_whose_exif_names_the_second_the_work_started_in_is_not_before_it() -> None:
    visit = work_starting_at(honest_urban_install(), at(10, 6) + timedelta(milliseconds=300))
    # Taken within 10:06:00-10:06:01 by its EXIF, sent 5 s later.
    clean = replace(photo("site_clean", at(10, 6)), captured_to_the_second=True, recorded_at=at(10, 6, 5))

    assert "v.clean.before_work" not in codes(audit(replace_photos(visit, "site_clean", clean)))


def test_v_clean_photo_with_sub_seconds_before_the_work_start_is_violation() -> None:
    visit = work_starting_at(honest_urban_install(), at(10, 6) + timedelta(milliseconds=300))
    clean = photo("site_clean", at(10, 6))  # 10:06:00.000 exactly, as the EXIF's own fraction says

    assert finding(audit(replace_photos(visit, "site_clean", clean)), "v.clean.before_work").measured == -0.01


def test_v_clean_photo_sent_before_the_work_started_but_dated_after_is_violation() -> None:
    sent_early = replace(photo("site_clean", at(10, 3)), captured_at=at(11, 2))  # EXIF claims the clean-up time

    before = finding(audit(replace_photos(honest_urban_install(), "site_clean", sent_early)), "v.clean.before_work")
    assert before.measured == -3.0


def tool_mat_file_as_clean_photo(visit):  # noqa: ANN001, ANN201
    mat = next(photo for photo in visit.photos if photo.purpose == "tool_mat")
    return replace(mat, photo_id="clean-again", purpose="site_clean", recorded_at=at(11, 2))


def test_v_clean_the_tool_mat_photo_sent_again_as_the_site_clean_photo_is_violation() -> None:
    visit = honest_urban_install()
    resent = replace_photos(visit, "site_clean", tool_mat_file_as_clean_photo(visit))

    not_new = finding(audit(resent), "v.clean.not_new")
    assert not_new.refs == ("photo:clean-again", "photo:tool_mat-020600")


FINE = "3c" * 32  # a fine hash; the shoe-cover photo's copy differs from it in a few bits


def with_shoe_photo_and_clean_photo(coarse_bits_apart: int, fine: str):  # noqa: ANN201
    visit = honest_urban_install()
    shoes = next(photo for photo in visit.photos if photo.purpose == "shoe_covers")
    shoes = replace(shoes, fine_hash=FINE)
    clean = replace(photo("site_clean", at(11, 2)), perceptual_hash=flipped(shoes.perceptual_hash, coarse_bits_apart),
                    fine_hash=fine)
    return replace(visit, photos=tuple(
        shoes if p.purpose == "shoe_covers" else clean if p.purpose == "site_clean" else p for p in visit.photos
    ))


def test_v_clean_a_re_encoded_copy_of_the_shoe_cover_photo_as_the_site_clean_photo_is_violation() -> None:
    copy = with_shoe_photo_and_clean_photo(coarse_bits_apart=2, fine="3c" * 31 + "3f")  # 2 of 256 fine bits

    assert "v.clean.not_new" in codes(audit(copy))


def test_v_clean_a_clean_up_photo_like_the_shoe_cover_photo_only_in_outline_passes() -> None:
    alike = with_shoe_photo_and_clean_photo(coarse_bits_apart=2, fine="c3" * 10 + "3c" * 22)  # 80 of 256 fine bits

    assert audit(alike).findings == ()


def test_v_clean_the_room_put_back_as_it_was_before_and_photographed_from_the_same_spot_passes() -> None:
    visit = honest_urban_install()
    before = replace(next(p for p in visit.photos if p.purpose == "before"), fine_hash=FINE)
    clean = replace(photo("site_clean", at(11, 2)), perceptual_hash=flipped(before.perceptual_hash, 2),
                    fine_hash="3c" * 31 + "3f")  # fmt: skip
    alike = replace(visit, photos=tuple(
        before if p.purpose == "before" else clean if p.purpose == "site_clean" else p for p in visit.photos
    ))

    assert audit(alike).findings == ()


def test_v_clean_the_before_photo_file_sent_again_as_the_site_clean_photo_is_violation() -> None:
    visit = honest_urban_install()
    before = next(p for p in visit.photos if p.purpose == "before")
    resent = replace_photos(visit, "site_clean", replace(before, photo_id="clean-again", purpose="site_clean",
                                                         recorded_at=at(11, 2)))

    assert "v.clean.not_new" in codes(audit(resent))


def test_v_clean_the_after_photo_file_sent_again_as_the_site_clean_photo_passes() -> None:
    visit = honest_urban_install()
    after = next(photo for photo in visit.photos if photo.purpose == "after")
    both = replace_photos(visit, "site_clean", replace(after, photo_id="clean-1", purpose="site_clean"))

    assert audit(both).findings == ()


def test_v_clean_a_new_clean_up_photo_beside_a_re_sent_one_passes() -> None:
    visit = honest_urban_install()
    both = replace(visit, photos=visit.photos + (tool_mat_file_as_clean_photo(visit),))

    assert audit(both).findings == ()


def test_v_shoes_a_late_photo_whose_fact_was_backdated_is_still_late() -> None:
    backdated = replace(photo("shoe_covers", GOING_IN + timedelta(minutes=17)), recorded_at=ARRIVAL)
    visit = urban_with_shoe_photo_at(ARRIVAL)  # then the photo replaced by the backdated one
    visit = replace_photos(visit, "shoe_covers", backdated)

    assert finding(audit(visit), "v.shoes.late").measured == 17.0


def test_v_sign_a_clean_up_photo_taken_after_the_signature_whose_fact_was_backdated_is_caught() -> None:
    visit = honest_urban_install()  # signed at 11:05
    backdated = replace(photo("site_clean", at(11, 7)), recorded_at=at(11, 4))

    assert "v.sign.before_clean" in codes(audit(replace_photos(visit, "site_clean", backdated)))


def test_v_sign_blank_signature_is_violation() -> None:
    visit = honest_urban_install()
    visit = replace(visit, signature=replace(visit.signature, ink_ratio=0.0))

    blank = finding(audit(visit), "v.sign.blank")
    assert (blank.rule_id, blank.severity, blank.measured, blank.threshold) == ("V-SIGN", "violation", 0.0, 0.002)


def test_v_sign_ink_at_the_minimum_is_a_signature() -> None:
    visit = honest_urban_install()
    visit = replace(visit, signature=replace(visit.signature, ink_ratio=0.002))

    assert audit(visit).findings == ()


@pytest.mark.parametrize(
    "name",
    ["  ", "\u200b", "\ufeff\u200d", "\u2800", "\u3164 ", "\u202e", "\x01\x02", "\U000e0020", "\ufe0f\u180b", "\u0301"],
    ids=[
        "spaces", "zero_width", "joiners", "braille_blank", "hangul_filler", "right_to_left_override", "control",
        "tag_space", "variation_selectors", "combining_mark_alone",
    ],
)
def test_v_sign_without_signer_name_is_violation(name: str) -> None:
    visit = honest_urban_install()
    visit = replace(visit, signature=replace(visit.signature, signer_name=name))

    assert "v.sign.unnamed" in codes(audit(visit))


@pytest.mark.parametrize("name", ["李伟", "محمد", "अनिल", "Ze\u0301nobe", "O'Brien"])
def test_v_sign_a_name_in_any_script_is_a_name(name: str) -> None:
    visit = honest_urban_install()
    visit = replace(visit, signature=replace(visit.signature, signer_name=name))

    assert "v.sign.unnamed" not in codes(audit(visit))


def test_v_sign_summary_digest_mismatch_is_violation() -> None:
    visit = honest_urban_install()
    visit = replace(visit, signature=replace(visit.signature, summary_digest="sha256:" + "cd" * 32))

    assert finding(audit(visit), "v.sign.digest_mismatch").threshold == visit.signature.expected_digest


def test_v_sign_before_arrival_is_violation() -> None:
    visit = honest_urban_install()
    visit = replace(visit, signature=replace(visit.signature, signed_at=at(9, 50)))

    assert finding(audit(visit), "v.sign.before_arrival").measured == -7.0


def test_v_sign_before_the_site_clean_photo_is_violation() -> None:
    visit = honest_urban_install()
    visit = replace(visit, signature=replace(visit.signature, signed_at=at(11, 1)))  # clean photo at 11:02

    before = finding(audit(visit), "v.sign.before_clean")
    assert before.measured == -1.0 and "photo:site_clean-030200" in before.refs


def test_v_sign_at_the_same_second_as_the_clean_photo_passes() -> None:
    visit = honest_urban_install()
    visit = replace(visit, signature=replace(visit.signature, signed_at=at(11, 2)))

    assert audit(visit).findings == ()


def test_v_sign_signed_more_than_the_slack_after_checkout_is_violation() -> None:
    visit = honest_urban_install()  # checked out at 11:12; photos may be 15 min off the visit (E-TIME), not more
    visit = replace(visit, signature=replace(visit.signature, signed_at=at(11, 29)))

    assert finding(audit(visit), "v.sign.after_checkout").measured == 17.0


def test_v_sign_signed_at_the_door_just_after_checkout_passes() -> None:
    visit = honest_urban_install()
    visit = replace(visit, signature=replace(visit.signature, signed_at=at(11, 13)))

    assert audit(visit).findings == ()


def test_v_sign_missing_is_violation_once_completed() -> None:
    visit = replace(honest_urban_install(), signature=None)

    assert finding(audit(visit), "v.sign.missing").message_en == "no customer signature"


def test_v_sign_the_same_signature_file_on_another_visit_is_a_violation() -> None:
    visit = honest_urban_install()
    signed = replace(visit, signature=replace(visit.signature, photo_id="sig-1", sha256="5" * 64))
    elsewhere = OtherVisitPhoto("visit-90", "their-sig", "5" * 64, "0" * 16, "sig-1", 0)

    reused = finding(audit(signed, context(other_photos=(elsewhere,))), "v.sign.reused")
    assert (reused.severity, reused.refs[-1]) == ("violation", "visit:visit-90/photo:their-sig")


def test_v_sign_a_blank_pad_the_same_file_as_another_visits_blank_is_blank_not_reused() -> None:
    """Every empty pad of an app is the same file: one finding, not two (a probe)."""
    visit = honest_urban_install()
    blank = replace(visit.signature, photo_id="sig-1", sha256="5" * 64, ink_ratio=0.0)
    elsewhere = OtherVisitPhoto("visit-90", "their-blank", "5" * 64, "0" * 16, "sig-1", 0)

    found = codes(audit(replace(visit, signature=blank), context(other_photos=(elsewhere,))))
    assert "v.sign.blank" in found and "v.sign.reused" not in found


def test_v_sign_a_copy_of_another_visits_signature_matched_at_ingest_is_a_violation() -> None:
    visit = honest_urban_install()
    signed = replace(visit, signature=replace(visit.signature, photo_id="sig-1", sha256="5" * 64))
    copy_elsewhere = OtherVisitPhoto("visit-90", "their-sig", "6" * 64, "0" * 16, "sig-1", 9)

    assert finding(audit(signed, context(other_photos=(copy_elsewhere,))), "v.sign.reused").measured == 1.0


def test_v_sign_reuse_counts_another_visit_signed_twice_with_the_same_signature_once() -> None:
    visit = honest_urban_install()
    signed = replace(visit, signature=replace(visit.signature, photo_id="sig-1", sha256="5" * 64))
    twice_there = tuple(OtherVisitPhoto("visit-90", sig, "5" * 64, "0" * 16, "sig-1", 0) for sig in ("sig-a", "sig-b"))

    reused = finding(audit(signed, context(other_photos=twice_there)), "v.sign.reused")
    assert (reused.measured, reused.message_en.count("visit-90")) == (1.0, 1)
    assert reused.refs[-2:] == ("visit:visit-90/photo:sig-a", "visit:visit-90/photo:sig-b")


def test_v_sign_a_signature_copied_later_to_another_visit_is_that_visits_reuse_not_this_ones() -> None:
    visit = honest_urban_install()
    signed = replace(visit, signature=replace(visit.signature, photo_id="sig-1", sha256="5" * 64))
    copied_later = OtherVisitPhoto("visit-90", "their-sig", "5" * 64, "0" * 16, "sig-1", 0, received_first=False)

    assert "v.sign.reused" not in codes(audit(signed, context(other_photos=(copied_later,))))


def test_v_sign_another_visits_photo_matched_with_this_visits_photo_is_not_signature_reuse() -> None:
    visit = honest_urban_install()
    signed = replace(visit, signature=replace(visit.signature, photo_id="sig-1", sha256="5" * 64))
    photo_elsewhere = OtherVisitPhoto("visit-90", "their-photo", "5" * 64, "0" * 16, "our-photo", 0)

    assert "v.sign.reused" not in codes(audit(signed, context(other_photos=(photo_elsewhere,))))
