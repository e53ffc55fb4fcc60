"""Distances between coordinates (geopy's geodesic) and the travel time they imply."""

from __future__ import annotations

from datetime import timedelta

from geopy.distance import geodesic


def distance_m(lat_a: float, lon_a: float, lat_b: float, lon_b: float) -> float:
    return geodesic((lat_a, lon_a), (lat_b, lon_b)).meters


def travel_time(lat_a: float, lon_a: float, lat_b: float, lon_b: float, speed_kmh: float) -> timedelta:
    """B-ASSIGN: time to drive between two sites, estimated from the geodesic distance at a set speed."""
    return timedelta(hours=distance_m(lat_a, lon_a, lat_b, lon_b) / 1000 / speed_kmh)
