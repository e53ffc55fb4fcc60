"""Versioned audit policies chosen by visit kind x locality (x tier), loaded from validated JSON documents."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

from fieldsvc.audit.findings import Severity

TIERS = ("diamond", "gold", "silver", "standard")
# Items V-CLOSE can require; fieldsvc.audit.closure knows how to tell whether each one is present.
CLOSURE_ITEMS = (
    "V-CHECKIN", "V-ID", "V-SHOES", "V-MAT", "V-TEST", "V-CLEAN", "V-SIGN", "V-CARD", "V-CHECKOUT", "V-TERMINAL",
)
# E-REUSE candidates come from the ingest's band index (fieldsvc.mobile.reuse), which finds every hash within
# 7 bits; a larger policy distance would silently miss near-duplicates the index never reported.
MAX_REUSE_DISTANCE = 7


@dataclass(frozen=True, slots=True)
class Durations:
    """The policy's time limits as timedeltas, built once: timedelta() costs about 1 us a call in rule code."""

    punctuality_tolerance: timedelta
    shoe_cover_window: timedelta
    photo_time_slack: timedelta
    clock_skew_limit: timedelta
    fix_max_age: timedelta
    contact_deadline: Mapping[str, timedelta]
    first_response: timedelta
    install_schedule: timedelta
    repair_deadline: Mapping[str, timedelta]
    reschedule_notice: timedelta
    ask_follow_up: timedelta
    customer_absent_wait: timedelta | None


@dataclass(frozen=True, slots=True)
class Policy:
    policy_id: str  # "<kind>.<locality>" or "<kind>.<locality>.<tier>"
    version: int
    required_items: tuple[str, ...]  # V-CLOSE
    punctuality_tolerance_min: float  # V-PUNCT
    early_arrival_severity: Severity  # V-PUNCT
    geofence_radius_m: float  # V-GEOFENCE
    accuracy_limit_m: float  # V-GEOFENCE
    fix_max_age_min: float  # V-GEOFENCE: a location fix older than this at check-in proves nothing about now
    unverifiable_location_severity: Severity  # V-GEOFENCE
    shoe_cover_rule: Literal["photo_within_window", "photo_or_reason"]  # V-SHOES: urban / rural
    shoe_cover_window_min: float  # V-SHOES
    photo_time_slack_min: float  # E-TIME, and the on-site period of step confirmations
    photo_place_slack_m: float  # E-PLACE
    editing_software: tuple[str, ...]  # E-EDIT: lower-case fragments of editing programs' names
    reuse_max_distance: int  # E-REUSE: Hamming distance of perceptual hashes
    reuse_max_fine_distance: int  # E-REUSE: the same of the 256-bit fine hashes, which tell look-alikes from copies
    reuse_min_hash_detail_bits: int  # E-REUSE: hashes of featureless images cannot tell photos apart
    clock_skew_limit_s: float  # E-CLOCK
    prompt_receipt_s: float  # V-PUNCT: a check-in received this soon after its device time was sent online
    impossible_speed_kmh: float  # E-MOCK
    speed_min_interval_s: float  # E-MOCK: fixes closer in time are GPS noise, not travel; speed uses at least this
    signature_min_ink_ratio: float  # V-SIGN: below this the signature is blank
    contact_deadline_h: Mapping[str, float]  # B-CONTACT by tier
    first_response_h: float  # B-FIRST
    install_schedule_h: float  # B-INSTALL-24
    repair_deadline_h: Mapping[str, float]  # B-REPAIR by tier
    reschedule_notice_h: float  # B-RESCHED
    late_customer_reschedule_severity: Severity  # B-RESCHED: short notice from the customer's own request
    ask_follow_up_h: float  # V-ASK
    warnings_flag: bool  # A-VERDICT: do warnings alone flag a visit?
    # V-CLOSE: how long a technician waits at the site for a customer not at home before completing the visit as
    # customer absent; None in versions before there was such a completion, which then needs every required item.
    customer_absent_wait_min: float | None = None
    description: str = ""
    fingerprint: str = field(init=False, compare=False)
    editing_software_pattern: re.Pattern[str] = field(init=False, compare=False, repr=False)  # E-EDIT, compiled once
    durations: Durations = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        canonical = json.dumps(self.to_document(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        object.__setattr__(self, "fingerprint", hashlib.sha256(canonical.encode()).hexdigest())
        pattern = "|".join(re.escape(fragment) for fragment in self.editing_software) or "(?!)"
        object.__setattr__(self, "editing_software_pattern", re.compile(pattern))
        object.__setattr__(self, "durations", Durations(
            punctuality_tolerance=timedelta(minutes=self.punctuality_tolerance_min),
            shoe_cover_window=timedelta(minutes=self.shoe_cover_window_min),
            photo_time_slack=timedelta(minutes=self.photo_time_slack_min),
            clock_skew_limit=timedelta(seconds=self.clock_skew_limit_s),
            fix_max_age=timedelta(minutes=self.fix_max_age_min),
            contact_deadline=MappingProxyType({t: timedelta(hours=h) for t, h in self.contact_deadline_h.items()}),
            first_response=timedelta(hours=self.first_response_h),
            install_schedule=timedelta(hours=self.install_schedule_h),
            repair_deadline=MappingProxyType({t: timedelta(hours=h) for t, h in self.repair_deadline_h.items()}),
            reschedule_notice=timedelta(hours=self.reschedule_notice_h),
            ask_follow_up=timedelta(hours=self.ask_follow_up_h),
            customer_absent_wait=(
                None if self.customer_absent_wait_min is None else timedelta(minutes=self.customer_absent_wait_min)
            ),
        ))

    @property
    def reach_m(self) -> float:
        """V-GEOFENCE: the farthest a fix that proves presence can place the phone from the site (radius plus the
        accuracy limit); a coarse fix whose own position is beyond it says the phone was elsewhere."""
        return self.geofence_radius_m + self.accuracy_limit_m

    def to_document(self) -> dict[str, Any]:
        """The policy as a JSON document without its description (what the fingerprint covers)."""
        document: dict[str, Any] = {}
        for spec in fields(self):
            if not spec.init or spec.name == "description":
                continue
            value = getattr(self, spec.name)
            if value is None and spec.name in _OPTIONAL_FIELDS:
                continue  # absent from the versions before it, whose fingerprints stay as they were
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            document[spec.name] = value
        return document


def _number(minimum: float = 0.0, maximum: float | None = None, integer: bool = False) -> Callable[[Any], Any]:
    kind = "an integer" if integer else "a number"
    bounds = f">= {minimum:g}" + ("" if maximum is None else f" and <= {maximum:g}")

    def parse(value: Any) -> Any:
        allowed = (int,) if integer else (int, float)
        if (
            isinstance(value, bool) or not isinstance(value, allowed) or not math.isfinite(value)
            or value < minimum or (maximum is not None and value > maximum)
        ):
            raise ValueError(f"must be {kind} {bounds}, got {value!r}")
        return value if integer else float(value)

    return parse


def _choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    return parse


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _name_fragments(value: Any) -> tuple[str, ...]:
    return tuple(item.lower() for item in _texts(value))


def _required_items(value: Any) -> tuple[str, ...]:
    items = _texts(value)
    unknown = sorted(set(items) - set(CLOSURE_ITEMS))
    if unknown:
        raise ValueError(f"has unknown items {unknown}; known items are {', '.join(CLOSURE_ITEMS)}")
    if len(set(items)) != len(items):
        raise ValueError("lists an item twice")
    return items


def _hours_by_tier(value: Any) -> Mapping[str, float]:
    if not isinstance(value, dict) or set(value) != set(TIERS):
        raise ValueError(f"must give hours for exactly the tiers {', '.join(TIERS)}, got {value!r}")
    parse = _number(minimum=0.0)
    return MappingProxyType({tier: parse(value[tier]) for tier in TIERS})


_SEVERITY = _choice("violation", "warning", "info")
_FIELD_PARSERS: dict[str, Callable[[Any], Any]] = {
    "required_items": _required_items,
    "punctuality_tolerance_min": _number(),
    "early_arrival_severity": _SEVERITY,
    "geofence_radius_m": _number(minimum=1.0),
    "accuracy_limit_m": _number(minimum=1.0),
    "fix_max_age_min": _number(minimum=0.0),
    "unverifiable_location_severity": _SEVERITY,
    "shoe_cover_rule": _choice("photo_within_window", "photo_or_reason"),
    "shoe_cover_window_min": _number(),
    "photo_time_slack_min": _number(),
    "photo_place_slack_m": _number(),
    "editing_software": _name_fragments,
    "reuse_max_distance": _number(maximum=MAX_REUSE_DISTANCE, integer=True),
    "reuse_max_fine_distance": _number(maximum=256, integer=True),
    "reuse_min_hash_detail_bits": _number(maximum=32, integer=True),
    "clock_skew_limit_s": _number(),
    "prompt_receipt_s": _number(),
    "impossible_speed_kmh": _number(minimum=1.0),
    "speed_min_interval_s": _number(minimum=1.0),
    "signature_min_ink_ratio": _number(maximum=1.0),
    "contact_deadline_h": _hours_by_tier,
    "first_response_h": _number(),
    "install_schedule_h": _number(),
    "repair_deadline_h": _hours_by_tier,
    "reschedule_notice_h": _number(),
    "late_customer_reschedule_severity": _SEVERITY,
    "ask_follow_up_h": _number(),
    "warnings_flag": _boolean,
    "customer_absent_wait_min": _number(),
    "description": _text,
}
# Fields a later version introduced: earlier versions lack them (and so does the feature they configure).
_OPTIONAL_FIELDS = ("customer_absent_wait_min", "description")
_IDENTITY_KEYS = ("policy_id", "version", "extends")


def _policy_key(document: Mapping[str, Any], origin: str) -> tuple[str, int]:
    policy_id, version = document.get("policy_id"), document.get("version")
    if not isinstance(policy_id, str) or not policy_id:
        raise ValueError(f"policy document {origin}: policy_id must be a non-empty string, got {policy_id!r}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"policy document {origin}: version must be an integer >= 1, got {version!r}")
    return policy_id, version


def _parse_extends(value: Any, origin: str) -> tuple[str, int]:
    """A tier override names the exact base version, so editing the base never silently changes it."""
    policy_id, _, version = value.partition("@") if isinstance(value, str) else ("", "", "")
    if not policy_id or not version.isdigit():
        raise ValueError(f"policy document {origin}: extends must look like 'repair.urban@1', got {value!r}")
    return policy_id, int(version)


class PolicyBook:
    """Every version of every policy; selection picks the newest, re-audits can ask for an exact version."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._by_key: dict[tuple[str, int], Policy] = {}
        for policy in policies:
            key = (policy.policy_id, policy.version)
            if key in self._by_key and self._by_key[key].fingerprint != policy.fingerprint:
                raise ValueError(f"policy {policy.policy_id} version {policy.version} is defined twice, differently")
            self._by_key[key] = policy
        self._latest: dict[str, Policy] = {}
        for (policy_id, version), policy in sorted(self._by_key.items()):
            self._latest[policy_id] = policy

    @classmethod
    def from_documents(cls, documents: Mapping[str, Mapping[str, Any]]) -> PolicyBook:
        """Build from documents keyed by where they came from (a file name), resolving `extends`."""
        by_key: dict[tuple[str, int], tuple[str, Mapping[str, Any]]] = {}
        for origin, document in sorted(documents.items()):
            if not isinstance(document, Mapping):
                raise ValueError(f"policy document {origin}: must be a JSON object")
            key = _policy_key(document, origin)
            if key in by_key:
                raise ValueError(f"policy document {origin}: {key[0]} version {key[1]} is also in {by_key[key][0]}")
            by_key[key] = (origin, document)

        def resolve(key: tuple[str, int], chain: tuple[tuple[str, int], ...]) -> dict[str, Any]:
            origin, document = by_key[key]
            values = {name: value for name, value in document.items() if name not in _IDENTITY_KEYS}
            unknown = sorted(set(values) - set(_FIELD_PARSERS))
            if unknown:
                raise ValueError(f"policy document {origin}: unknown keys {unknown}")
            if "extends" not in document:
                return values
            base = _parse_extends(document["extends"], origin)
            if base not in by_key:
                raise ValueError(f"policy document {origin}: extends {base[0]}@{base[1]}, which is not defined")
            if base in chain:
                raise ValueError(f"policy document {origin}: extends itself through {base[0]}@{base[1]}")
            return {**resolve(base, chain + (key,)), **values}

        return cls(_build(key, by_key[key][0], resolve(key, ())) for key in by_key)

    def select(self, kind: str, locality: str, tier: str | None = None) -> Policy:
        candidates = ([f"{kind}.{locality}.{tier}"] if tier else []) + [f"{kind}.{locality}"]
        for policy_id in candidates:
            if policy_id in self._latest:
                return self._latest[policy_id]
        raise LookupError(f"no audit policy for kind={kind!r} locality={locality!r} tier={tier!r}")

    def get(self, policy_id: str, version: int) -> Policy:
        try:
            return self._by_key[(policy_id, version)]
        except KeyError:
            raise LookupError(f"no audit policy {policy_id} version {version}") from None

    def latest(self) -> Iterator[Policy]:
        """The version of each policy that new audits use."""
        return iter(self._latest.values())

    def __iter__(self) -> Iterator[Policy]:
        return iter([policy for _, policy in sorted(self._by_key.items())])


def _build(key: tuple[str, int], origin: str, values: Mapping[str, Any]) -> Policy:
    missing = sorted(set(_FIELD_PARSERS) - set(_OPTIONAL_FIELDS) - set(values))
    if missing:
        raise ValueError(f"policy document {origin}: missing keys {missing}")
    parsed: dict[str, Any] = {}
    for name, value in values.items():
        try:
            parsed[name] = _FIELD_PARSERS[name](value)
        except ValueError as error:
            raise ValueError(f"policy document {origin}: {name} {error}") from None
    return Policy(policy_id=key[0], version=key[1], **parsed)


def load_default_policies() -> PolicyBook:
    """The policies shipped with fieldsvc (fieldsvc/audit/policies/*.json); they match the STANDARD defaults."""
    folder = resources.files("fieldsvc.audit").joinpath("policies")
    documents: dict[str, Any] = {}
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".json"):
            try:
                documents[entry.name] = json.loads(entry.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise ValueError(f"policy document {entry.name}: not valid JSON ({error})") from None
    return PolicyBook.from_documents(documents)
