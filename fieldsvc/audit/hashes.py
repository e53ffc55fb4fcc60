"""Perceptual hashes for E-REUSE: parsing, and index keys with which the service finds every near-duplicate."""

from __future__ import annotations

BAND_COUNT = 4
BAND_BITS = 16


def parse_perceptual_hash(perceptual_hash: str) -> int:
    if len(perceptual_hash) != 16:
        raise ValueError(f"a perceptual hash is 16 hex digits, got {perceptual_hash!r}")
    return int(perceptual_hash, 16)


def _bands(value: int) -> list[int]:
    return [(value >> (band * BAND_BITS)) & 0xFFFF for band in range(BAND_COUNT)]


def perceptual_hash_bands(perceptual_hash: str) -> tuple[str, ...]:
    """Keys to store with a photo: its four 16-bit bands, as "<band>:<4 hex digits>"."""
    return tuple(f"{band}:{bits:04x}" for band, bits in enumerate(_bands(parse_perceptual_hash(perceptual_hash))))


def perceptual_hash_probes(perceptual_hash: str) -> tuple[str, ...]:
    """Keys to look up for a new photo: each band as it is and with any one bit flipped (68 keys).

    Two hashes at most 7 bits apart spread those bits over 4 bands, so some band differs in at most one bit
    (pigeonhole) and the stored photo shares a key with these probes. Candidates found this way are then
    filtered on the real Hamming distance (in SQL, or by audit_visit when passed as other_photos).
    """
    keys = []
    for band, bits in enumerate(_bands(parse_perceptual_hash(perceptual_hash))):
        keys.append(f"{band}:{bits:04x}")
        keys += [f"{band}:{bits ^ (1 << flipped):04x}" for flipped in range(BAND_BITS)]
    return tuple(keys)
