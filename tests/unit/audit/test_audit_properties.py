"""Properties: replaying or reordering facts never changes a verdict; lateness only makes V-PUNCT worse."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fieldsvc.audit.facts import AuditContext, VisitFacts

from tests.unit.audit.builders import (
    arriving_at, audit, context, honest_rural_repair, honest_urban_install, messy_context, messy_visit,
)

VISIT_TUPLES = ("checkins", "clock_syncs", "steps", "notes", "leaves", "tests", "asks", "photos")
BASES = {
    "urban": (honest_urban_install, context),
    "rural": (honest_rural_repair, context),
    "messy": (messy_visit, messy_context),
}


def replayed_and_shuffled(items: tuple, rnd: random.Random) -> tuple:
    """Some facts sent again (offline replays), all arriving in any order."""
    copies = list(items) + [rnd.choice(items) for _ in range(rnd.randint(0, len(items)))] if items else []
    rnd.shuffle(copies)
    return tuple(copies)


def thinned(items: tuple, rnd: random.Random) -> tuple:
    return tuple(item for item in items if rnd.random() < 0.8)


def scramble(visit: VisitFacts, audit_context: AuditContext, rnd: random.Random) -> tuple[VisitFacts, AuditContext]:
    order = replace(visit.order, reschedules=replayed_and_shuffled(visit.order.reschedules, rnd))
    facts = {name: replayed_and_shuffled(getattr(visit, name), rnd) for name in VISIT_TUPLES}
    visit = replace(visit, order=order, **facts)
    audit_context = replace(
        audit_context,
        other_photos=replayed_and_shuffled(audit_context.other_photos, rnd),
        neighbour_fixes=replayed_and_shuffled(audit_context.neighbour_fixes, rnd),
    )
    return visit, audit_context


@settings(max_examples=150, deadline=None)
@given(base=st.sampled_from(sorted(BASES)), rnd=st.randoms(use_true_random=False), thin=st.booleans())
def test_a_reaudit_replaying_and_reordering_facts_never_changes_the_verdict(
    base: str, rnd: random.Random, thin: bool,
) -> None:
    make_visit, make_context = BASES[base]
    visit, audit_context = make_visit(), make_context()
    if thin:  # many different states of the same visit, not only the three bases
        visit = replace(visit, **{name: thinned(getattr(visit, name), rnd) for name in VISIT_TUPLES})

    scrambled_visit, scrambled_context = scramble(visit, audit_context, rnd)

    assert audit(scrambled_visit, scrambled_context).to_dict() == audit(visit, audit_context).to_dict()


SEVERITY_RANK = {"info": 1, "warning": 2, "violation": 3}


def lateness_badness(delay_s: int, base: str) -> tuple[int, float]:
    visit = BASES[base][0]()
    verdict = audit(arriving_at(visit, visit.agreed_time + timedelta(seconds=delay_s)))
    late = [f for f in verdict.findings if f.code == "v.punct.late"]
    return (SEVERITY_RANK[late[0].severity], late[0].measured) if late else (0, 0.0)


@settings(max_examples=150, deadline=None)
@given(
    base=st.sampled_from(["urban", "rural"]),
    first=st.integers(min_value=-3 * 3600, max_value=6 * 3600),
    second=st.integers(min_value=-3 * 3600, max_value=6 * 3600),
)
def test_v_punct_lateness_only_ever_makes_the_punctuality_finding_worse(base: str, first: int, second: int) -> None:
    earlier, later = sorted((first, second))

    assert lateness_badness(earlier, base) <= lateness_badness(later, base)


@settings(max_examples=60, deadline=None)
@given(delay_s=st.integers(min_value=-600, max_value=600))
def test_v_punct_arrival_within_the_tolerance_never_produces_a_punctuality_finding(delay_s: int) -> None:
    visit = honest_urban_install()
    verdict = audit(arriving_at(visit, visit.agreed_time + timedelta(seconds=delay_s)))

    assert not [f for f in verdict.findings if f.rule_id == "V-PUNCT"]


def test_a_reaudit_stored_verdict_is_byte_identical_across_hash_seeds() -> None:
    script = (
        "import json; from tests.unit.audit.builders import audit, messy_visit, messy_context; "
        "print(json.dumps(audit(messy_visit(), messy_context()).to_dict(), ensure_ascii=False))"
    )
    root = Path(__file__).resolve().parents[3]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)},
        ).stdout
        for seed in ("1", "2", "3")
    }

    assert len(outputs) == 1
    assert json.loads(outputs.pop())["status"] == "flagged"
