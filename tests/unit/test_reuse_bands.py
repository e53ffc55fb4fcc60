"""E-REUSE: the band index finds every photo within the reuse distance with one IN query of 68 keys."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from fieldsvc.imaging import perceptual_distance
from fieldsvc.mobile.reuse import MAX_REUSE_DISTANCE, band_keys, bands, probe_keys

HASHES = st.integers(min_value=0, max_value=2**64 - 1).map(lambda value: f"{value:016x}")


def flipped(perceptual_hash: str, bits: list[int]) -> str:
    value = int(perceptual_hash, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:016x}"


def test_e_reuse_bands_split_the_hash_most_significant_first():
    assert bands("0123456789abcdef") == [0x0123, 0x4567, 0x89AB, 0xCDEF]
    assert band_keys("0123456789abcdef") == [0x0123, 1 << 16 | 0x4567, 2 << 16 | 0x89AB, 3 << 16 | 0xCDEF]


def test_e_reuse_probes_each_band_exactly_and_with_every_single_bit_flip():
    probes = probe_keys("0000000000000000")

    assert len(probes) == len(set(probes)) == 4 * 17
    assert set(band_keys("0000000000000000")) <= set(probes)
    assert 1 << 16 | 0x8000 in probes  # band 1, its top bit flipped
    assert max(probes) < 2**31  # fits the band_key INTEGER column


@given(HASHES, st.randoms(use_true_random=False), st.integers(min_value=0, max_value=MAX_REUSE_DISTANCE))
def test_e_reuse_every_hash_within_the_distance_shares_a_probed_band(perceptual_hash, rng: random.Random, distance):
    other = flipped(perceptual_hash, rng.sample(range(64), distance))

    assert perceptual_distance(perceptual_hash, other) == distance <= MAX_REUSE_DISTANCE
    assert set(probe_keys(perceptual_hash)) & set(band_keys(other))


def test_e_reuse_two_flips_in_every_band_escape_the_index_and_the_distance():
    # Exactly the case the pigeonhole argument rules out within the distance: 8 bits, 2 per band.
    other = flipped("ffffffffffffffff", [0, 1, 16, 17, 32, 33, 48, 49])

    assert not set(probe_keys("ffffffffffffffff")) & set(band_keys(other))
    assert perceptual_distance("ffffffffffffffff", other) > MAX_REUSE_DISTANCE
