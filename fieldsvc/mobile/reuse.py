"""E-REUSE: split a 64-bit perceptual hash into indexed bands and list the keys that find its near-duplicates."""

from __future__ import annotations

BAND_COUNT = 4
BAND_BITS = 16
_BAND_MASK = (1 << BAND_BITS) - 1
# Pigeonhole: two hashes at most 7 bits apart differ in at most one bit in at least one of the 4 bands
# (4 bands x 2 differing bits would already be 8). So probing each band exactly and with every single-bit
# flip finds every candidate within this distance, and nothing is missed by the index.
MAX_REUSE_DISTANCE = 7


def bands(perceptual_hash: str) -> list[int]:
    """The 16-bit bands of a 16-hex-digit hash, band 0 being the most significant."""
    value = int(perceptual_hash, 16)
    return [(value >> (BAND_BITS * (BAND_COUNT - 1 - band))) & _BAND_MASK for band in range(BAND_COUNT)]


def band_key(band: int, bits: int) -> int:
    return band << BAND_BITS | bits


def band_keys(perceptual_hash: str) -> list[int]:
    """What a photo stores in the index: one key per band."""
    return [band_key(band, bits) for band, bits in enumerate(bands(perceptual_hash))]


def probe_keys(perceptual_hash: str) -> list[int]:
    """What a new photo looks up: each band as is and with each of its 16 bits flipped (4 x 17 = 68 keys)."""
    return [
        band_key(band, bits ^ flip)
        for band, bits in enumerate(bands(perceptual_hash))
        for flip in (0, *(1 << bit for bit in range(BAND_BITS)))
    ]
