"""Honest visits with awkward-but-legal details pass with zero false flags; verdicts are stored deterministically."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from fieldsvc.audit import load_default_policies

from tests.unit.audit.builders import (
    AGREED, at, audit, checkin, codes, context, honest_rural_repair, honest_urban_install, photo, policy_for,
    replace_checkin,
)


def test_a_verdict_honest_urban_install_passes_without_any_finding() -> None:
    verdict = audit(honest_urban_install())

    assert verdict.status == "passed"
    assert verdict.findings == ()


def test_a_verdict_honest_rural_repair_passes_with_zero_violations() -> None:
    verdict = audit(honest_rural_repair())

    assert verdict.status == "passed"
    assert codes(verdict, "violation") == set()
    assert codes(verdict) == {"e.time.missing"}  # a photo without EXIF time only cannot be verified


def test_a_reaudit_verdict_records_the_policy_version_and_fingerprint_it_used() -> None:
    visit = honest_urban_install()
    policy = policy_for(visit)

    verdict = audit(visit, policy=policy)

    assert (verdict.policy_id, verdict.policy_version) == ("install.urban", policy.version)
    assert verdict.policy_fingerprint == policy.fingerprint


def test_a_verdict_unfinished_visit_is_pending_and_reports_what_is_known() -> None:
    visit = replace(honest_urban_install(), completion=None, signature=None, card=None)
    late = replace_checkin(visit, "arrival", checkin("arrival", AGREED + timedelta(minutes=25)))

    assert audit(visit).status == "pending"
    assert audit(visit).findings == ()  # nothing missing is reported before completion
    assert audit(late).status == "pending"
    assert "v.punct.late" in codes(audit(late))


def test_a_reaudit_same_facts_policy_and_now_give_byte_identical_stored_verdicts() -> None:
    visit = honest_rural_repair()
    fresh_policy = load_default_policies().select("repair", "rural", "standard")

    first = json.dumps(audit(visit).to_dict(), ensure_ascii=False)
    second = json.dumps(audit(visit, context(), fresh_policy).to_dict(), ensure_ascii=False)

    assert first == second


def test_a_verdict_stored_verdict_names_the_trusted_arrival_and_why() -> None:
    stored = audit(honest_urban_install()).to_dict()

    assert list(stored) == [
        "status", "policy_id", "policy_version", "policy_fingerprint", "trusted_arrival", "findings",
    ]
    assert stored["trusted_arrival"]["source"] == "device_corrected"
    assert "corrected for the phone's clock" in stored["trusted_arrival"]["reason_en"]
    assert "手机时钟快 1 秒" in stored["trusted_arrival"]["reason_zh"]


def test_a_verdict_early_arrival_only_gets_a_warning_and_passes() -> None:
    visit = replace_checkin(honest_urban_install(), "arrival", checkin("arrival", at(9, 48)))

    verdict = audit(visit)

    assert verdict.status == "passed"
    assert codes(verdict) == {"v.punct.early"}


def test_a_verdict_first_fix_coarse_then_good_passes_with_a_warning() -> None:
    visit = honest_urban_install()
    visit = replace(visit, checkins=visit.checkins + (checkin("arrival", at(9, 56), accuracy_m=350.0),))

    verdict = audit(visit)

    assert verdict.status == "passed"
    assert codes(verdict) == {"v.geofence.unverifiable"}


def test_a_verdict_photos_without_gps_and_with_camera_software_tags_pass() -> None:
    visit = honest_urban_install()
    visit = replace(visit, photos=tuple(
        replace(p, latitude=None, longitude=None, software="MediaTek Camera Application") for p in visit.photos
    ) + (photo("other", at(10, 30), software="iOS 17.4"),))

    assert audit(visit).findings == ()


def test_a_verdict_warnings_flag_a_visit_when_the_policy_says_so() -> None:
    visit = replace_checkin(honest_urban_install(), "arrival", checkin("arrival", at(9, 48)))

    assert audit(visit, policy=replace(policy_for(visit), warnings_flag=True)).status == "flagged"
