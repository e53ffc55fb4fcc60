"""The audit's cheap distance against geopy's geodesic; its reuse limit against the ingest's band index."""

from __future__ import annotations

from geopy.distance import geodesic
from hypothesis import given
from hypothesis import strategies as st

from fieldsvc.audit.findings import violation_key
from fieldsvc.audit.geometry import distance_m
from fieldsvc.audit.policy import MAX_REUSE_DISTANCE
from fieldsvc.mobile import reuse


@given(
    latitude=st.floats(min_value=18.0, max_value=53.0),
    longitude=st.floats(min_value=73.0, max_value=135.0),
    north=st.floats(min_value=-0.5, max_value=0.5),
    east=st.floats(min_value=-0.5, max_value=0.5),
)
def test_e_mock_distance_is_within_half_a_percent_of_the_geodesic(
    latitude: float, longitude: float, north: float, east: float,
) -> None:
    exact = geodesic((latitude, longitude), (latitude + north, longitude + east)).meters

    assert abs(distance_m(latitude, longitude, latitude + north, longitude + east) - exact) <= 0.005 * exact + 0.01


@given(
    latitude=st.floats(min_value=-75.0, max_value=75.0),
    longitude=st.floats(min_value=-180.0, max_value=180.0),
    north_m=st.floats(min_value=-2000.0, max_value=2000.0),
    east_m=st.floats(min_value=-2000.0, max_value=2000.0),
)
def test_v_geofence_distance_is_the_geodesic_to_a_millimetre(
    latitude: float, longitude: float, north_m: float, east_m: float,
) -> None:
    there = geodesic(meters=abs(north_m)).destination((latitude, longitude), 0 if north_m >= 0 else 180)
    there = geodesic(meters=abs(east_m)).destination(there, 90 if east_m >= 0 else 270)
    exact = geodesic((latitude, longitude), (there.latitude, there.longitude)).meters

    assert abs(distance_m(latitude, longitude, there.latitude, there.longitude) - exact) <= 0.001


def test_v_geofence_a_check_in_169_6_m_north_of_a_shanghai_site_is_169_6_m_away() -> None:
    site = (31.23, 121.47)
    fix = geodesic(meters=169.6).destination(site, 0)

    assert round(distance_m(*site, fix.latitude, fix.longitude), 1) == 169.6


def test_e_reuse_policy_distance_cannot_exceed_what_the_ingest_index_finds() -> None:
    assert MAX_REUSE_DISTANCE <= reuse.MAX_REUSE_DISTANCE


def test_a_decide_a_violation_about_another_visit_is_the_same_whichever_of_its_facts_it_names() -> None:
    first = {"code": "v.leave.unrecorded", "refs": ["visit:B/checkin:attempt-2"]}
    earlier_attempt = {"code": "v.leave.unrecorded", "refs": ["visit:B/checkin:attempt-1"]}
    another_visit = {"code": "v.leave.unrecorded", "refs": ["visit:C/checkin:arrival"]}

    assert violation_key(first) == violation_key(earlier_attempt) != violation_key(another_visit)
