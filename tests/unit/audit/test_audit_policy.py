"""Policies as data: shipped defaults match the STANDARD, selection, versions, tier overrides, validation."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import pytest

from fieldsvc.audit import PolicyBook, load_default_policies

from tests.unit.audit.builders import audit, honest_urban_install


def default_document(name: str = "install.urban.v1.json") -> dict:
    return json.loads(resources.files("fieldsvc.audit").joinpath("policies", name).read_text(encoding="utf-8"))


def test_shipped_policies_cover_every_kind_and_locality() -> None:
    book = load_default_policies()

    assert [(p.policy_id, p.version) for p in book.latest()] == [
        ("install.rural", 4), ("install.urban", 4), ("repair.rural", 4), ("repair.urban", 4),
    ]
    assert {(p.policy_id, p.version) for p in book} >= {("install.urban", 1), ("repair.rural", 2)}  # kept for old verdicts


def test_shipped_defaults_match_the_standard() -> None:
    policy = load_default_policies().select("install", "urban", "gold")

    assert policy.punctuality_tolerance_min == 10 and policy.early_arrival_severity == "warning"  # V-PUNCT
    assert (policy.geofence_radius_m, policy.accuracy_limit_m) == (150, 100)  # V-GEOFENCE
    assert (policy.shoe_cover_rule, policy.shoe_cover_window_min) == ("photo_within_window", 15)  # V-SHOES
    assert (policy.photo_time_slack_min, policy.photo_place_slack_m) == (15, 50)  # E-TIME, E-PLACE
    assert policy.clock_skew_limit_s == 120 and policy.impossible_speed_kmh == 150  # E-CLOCK, E-MOCK
    assert dict(policy.contact_deadline_h) == {"diamond": 8, "gold": 8, "silver": 12, "standard": 24}  # B-CONTACT
    assert policy.first_response_h == 2 and policy.install_schedule_h == 24  # B-FIRST, B-INSTALL-24
    assert dict(policy.repair_deadline_h) == {"diamond": 24, "gold": 24, "silver": 24, "standard": 48}  # B-REPAIR
    assert policy.reschedule_notice_h == 1 and policy.ask_follow_up_h == 48  # B-RESCHED, V-ASK
    assert policy.warnings_flag is False  # A-VERDICT
    assert load_default_policies().select("repair", "rural").shoe_cover_rule == "photo_or_reason"


def test_select_prefers_a_tier_policy_and_falls_back_to_kind_and_locality() -> None:
    diamond = {**default_document(), "policy_id": "install.urban.diamond", "punctuality_tolerance_min": 5}
    book = PolicyBook.from_documents({"base.json": default_document(), "diamond.json": diamond})

    assert book.select("install", "urban", "diamond").policy_id == "install.urban.diamond"
    assert book.select("install", "urban", "gold").policy_id == "install.urban"
    with pytest.raises(LookupError, match="kind='repair'"):
        book.select("repair", "urban", "gold")


def test_a_tier_override_extends_an_exact_base_version() -> None:
    override = {"policy_id": "install.urban.diamond", "version": 1, "extends": "install.urban@1",
                "punctuality_tolerance_min": 5}

    diamond = PolicyBook.from_documents({"base.json": default_document(), "d.json": override}).get(
        "install.urban.diamond", 1)

    assert diamond.punctuality_tolerance_min == 5
    assert diamond.geofence_radius_m == 150


def test_a_policy_change_is_a_new_version_and_old_versions_stay_available() -> None:
    version_2 = {**default_document(), "version": 2, "geofence_radius_m": 200}
    book = PolicyBook.from_documents({"v1.json": default_document(), "v2.json": version_2})

    assert book.select("install", "urban").version == 2
    assert book.get("install.urban", 1).geofence_radius_m == 150
    assert book.get("install.urban", 1).fingerprint != book.get("install.urban", 2).fingerprint


def test_verdict_under_an_old_version_is_reproducible() -> None:
    visit = honest_urban_install()
    version_2 = {**default_document(), "version": 2, "geofence_radius_m": 5}  # the check-ins are 20 m off
    book = PolicyBook.from_documents({"v1.json": default_document(), "v2.json": version_2})

    assert audit(visit, policy=book.get("install.urban", 1)).status == "passed"
    assert audit(visit, policy=book.get("install.urban", 2)).status == "flagged"
    assert audit(visit, policy=book.get("install.urban", 1)).policy_version == 1


def test_fingerprint_is_stable_and_ignores_the_description() -> None:
    first = load_default_policies().get("install.urban", 1)
    reworded = PolicyBook.from_documents({"x.json": {**default_document(), "description": "reworded"}})

    assert first.fingerprint == load_default_policies().get("install.urban", 1).fingerprint
    assert reworded.get("install.urban", 1).fingerprint == first.fingerprint
    assert replace(first, geofence_radius_m=151.0).fingerprint != first.fingerprint


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"geofence_radus_m": 150}, r"unknown keys \['geofence_radus_m'\]"),
        ({"geofence_radius_m": "150"}, "geofence_radius_m must be a number >= 1, got '150'"),
        ({"punctuality_tolerance_min": -1}, "punctuality_tolerance_min must be a number >= 0, got -1"),
        ({"warnings_flag": "no"}, "warnings_flag must be true or false"),
        ({"impossible_speed_kmh": float("nan")}, "impossible_speed_kmh must be a number >= 1, got nan"),
        ({"early_arrival_severity": "fatal"}, "early_arrival_severity must be one of violation, warning, info"),
        ({"required_items": ["V-ID", "V-FOO"]}, r"required_items has unknown items \['V-FOO'\]"),
        ({"required_items": ["V-ID", "V-ID"]}, "required_items lists an item twice"),
        ({"contact_deadline_h": {"gold": 8}}, "contact_deadline_h must give hours for exactly the tiers"),
        ({"reuse_max_distance": 9}, "reuse_max_distance must be an integer >= 0 and <= 7, got 9"),
        ({"version": 0}, "version must be an integer >= 1"),
        ({"extends": "install.rural"}, "extends must look like 'repair.urban@1'"),
        ({"extends": "install.rural@3"}, "extends install.rural@3, which is not defined"),
    ],
)
def test_a_bad_policy_document_is_a_value_error_that_says_what_is_wrong(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        PolicyBook.from_documents({"bad.json": {**default_document(), **change}})

    assert "policy document bad.json" in str(error.value)


def test_a_document_missing_a_key_is_a_value_error() -> None:
    document = default_document()
    del document["accuracy_limit_m"]

    with pytest.raises(ValueError, match=r"missing keys \['accuracy_limit_m'\]"):
        PolicyBook.from_documents({"short.json": document})


def test_the_same_version_defined_twice_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="install.urban version 1 is also in a.json"):
        PolicyBook.from_documents({"a.json": default_document(), "b.json": default_document()})


def test_overrides_cannot_extend_in_a_circle() -> None:
    loop_a = {"policy_id": "a", "version": 1, "extends": "b@1"}
    loop_b = {"policy_id": "b", "version": 1, "extends": "a@1"}

    with pytest.raises(ValueError, match="extends itself"):
        PolicyBook.from_documents({"a.json": loop_a, "b.json": loop_b})


def test_a_field_a_later_version_introduced_leaves_the_earlier_versions_and_their_fingerprints_as_they_were() -> None:
    book = load_default_policies()

    assert "customer_absent_wait_min" not in book.get("install.urban", 3).to_document()
    assert book.get("install.urban", 4).to_document()["customer_absent_wait_min"] == 10.0
