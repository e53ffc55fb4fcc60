"""The audit engine: pure functions from a visit's facts and a versioned policy to a verdict with findings."""

from fieldsvc.audit.closure import MissingItem, missing_for_closure
from fieldsvc.audit.engine import audit_visit
from fieldsvc.audit.findings import Finding, TrustedTime, Verdict
from fieldsvc.audit.policy import Policy, PolicyBook, load_default_policies

__all__ = [
    "Finding", "MissingItem", "Policy", "PolicyBook", "TrustedTime", "Verdict",
    "audit_visit", "load_default_policies", "missing_for_closure",
]
