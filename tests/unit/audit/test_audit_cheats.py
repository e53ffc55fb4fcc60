"""Every cheat the issue names is caught, by the rule the STANDARD names for it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from fieldsvc.audit.facts import ClockSyncFacts, OtherVisitPhoto, WithdrawalFacts

from tests.unit.audit.builders import (
    AGREED, at, audit, checkin, context, finding, flipped, honest_urban_install, photo, replace_checkin,
    replace_photos, shifted,
)


def test_e_reuse_cheat_photo_reused_from_another_technicians_visit_is_caught() -> None:
    clean = next(p for p in honest_urban_install().photos if p.purpose == "site_clean")
    earlier_visit = OtherVisitPhoto("visit-of-someone-else", "their-clean", clean.sha256, clean.perceptual_hash)

    verdict = audit(honest_urban_install(), context(other_photos=(earlier_visit,)))

    assert verdict.status == "flagged"
    assert finding(verdict, "e.reuse.identical").severity == "violation"


def test_e_reuse_cheat_resaved_copy_of_another_visits_photo_is_caught() -> None:
    clean = next(p for p in honest_urban_install().photos if p.purpose == "site_clean")
    resaved = OtherVisitPhoto("visit-9", "original", "e" * 64, flipped(clean.perceptual_hash, 2))

    verdict = audit(honest_urban_install(), context(other_photos=(resaved,)))

    assert verdict.status == "flagged"
    assert finding(verdict, "e.reuse.near_duplicate").measured == 2.0


def test_v_geofence_cheat_check_in_two_km_away_is_caught() -> None:
    verdict = audit(replace_checkin(honest_urban_install(), "arrival", checkin("arrival", at(9, 58), north_m=2000.0)))

    assert verdict.status == "flagged"
    assert finding(verdict, "v.geofence.outside").measured > 1900


def test_e_mock_cheat_mock_location_is_caught() -> None:
    verdict = audit(replace_checkin(honest_urban_install(), "arrival", checkin("arrival", at(9, 58), mock=True)))

    assert verdict.status == "flagged"
    assert finding(verdict, "e.mock.mock_location").rule_id == "E-MOCK"


def test_e_time_cheat_photo_taken_yesterday_is_caught() -> None:
    yesterday = replace(photo("site_clean", at(11, 2)), captured_at=at(11, 2) - timedelta(days=1))

    verdict = audit(replace_photos(honest_urban_install(), "site_clean", yesterday))

    assert verdict.status == "flagged"
    assert finding(verdict, "e.time.before_arrival").measured == -(24 * 60 - 65)  # 11:02 yesterday vs 09:57


def test_v_sign_cheat_blank_signature_is_caught() -> None:
    visit = honest_urban_install()

    verdict = audit(replace(visit, signature=replace(visit.signature, ink_ratio=0.0)))

    assert verdict.status == "flagged"
    assert finding(verdict, "v.sign.blank").rule_id == "V-SIGN"


def test_v_clean_cheat_no_clean_up_photo_is_caught() -> None:
    verdict = audit(replace_photos(honest_urban_install(), "site_clean"))

    assert verdict.status == "flagged"
    assert finding(verdict, "v.clean.missing").rule_id == "V-CLEAN"


def test_v_punct_and_e_clock_cheat_phone_clock_set_30_minutes_back_is_caught() -> None:
    """Arrives at 10:25 with the phone showing 09:55; the sync measures the offset and the audit uses it."""
    late = shifted(honest_urban_install(), timedelta(minutes=28))  # arrival 10:25
    clock_back = timedelta(minutes=-30)
    late = replace(
        late,
        checkins=tuple(replace(c, device_time=c.corrected_time + clock_back) for c in late.checkins),
        clock_syncs=(ClockSyncFacts(at(11, 45), -1800.0),),
    )
    arrival = next(c for c in late.checkins if c.kind == "arrival")
    assert arrival.device_time == AGREED - timedelta(minutes=5)  # what the phone claims

    verdict = audit(late)

    assert verdict.status == "flagged"
    assert finding(verdict, "v.punct.late").measured == 25.0
    assert finding(verdict, "e.clock.skew").measured == -1800.0
    assert verdict.trusted_arrival.source == "device_corrected"
    assert "the phone's clock running 1800 s slow" in verdict.trusted_arrival.reason_en


def test_a_decide_a_photo_withdrawn_while_returned_keeps_the_visit_flagged_for_an_auditor() -> None:
    visit = honest_urban_install()
    withdrawn = replace(visit, withdrawals=(WithdrawalFacts("w-1", "copied-photo", "wrong picture", at(11, 30)),))

    verdict = audit(withdrawn)

    told = finding(verdict, "a.decide.photo_withdrawn")
    assert (verdict.status, told.rule_id, told.refs) == ("flagged", "A-DECIDE", ("photo:copied-photo", "withdrawal:w-1"))
    assert audit(visit).status == "passed"
