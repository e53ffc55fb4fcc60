"""The audit's cheap distance against geopy's geodesic; its reuse limit against the ingest's band index."""

from __future__ import annotations

from geopy.distance import geodesic
from hypothesis import given
from hypothesis import strategies as st

from fieldsvc.audit.geometry import distance_m
from fieldsvc.audit.policy import MAX_REUSE_DISTANCE
from fieldsvc.mobile import reuse


@given(
    latitude=st.floats(min_value=18.0, max_value=53.0),
    longitude=st.floats(min_value=73.0, max_value=135.0),
    north=st.floats(min_value=-0.5, max_value=0.5),
    east=st.floats(min_value=-0.5, max_value=0.5),
)
def test_v_geofence_distance_is_within_half_a_percent_of_the_geodesic(
    latitude: float, longitude: float, north: float, east: float,
) -> None:
    exact = geodesic((latitude, longitude), (latitude + north, longitude + east)).meters

    assert abs(distance_m(latitude, longitude, latitude + north, longitude + east) - exact) <= 0.005 * exact + 0.01


def test_e_reuse_policy_distance_cannot_exceed_what_the_ingest_index_finds() -> None:
    assert MAX_REUSE_DISTANCE <= reuse.MAX_REUSE_DISTANCE
