"""V-SIGN: a signature's strokes as a small bitmap of their own box, which tells a copy of one signature from another."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable

from PIL import Image, ImageFilter

# The strokes' box (from the ink's mean and spread) shrunk to 64 x 24 cells; a cell is ink when a tenth of it is. A copy
# re-saved, resized, re-encoded, padded or with a pixel changed keeps its cells; the same person signing again moves
# strokes by more than a cell here and there.
PRINT_WIDTH, PRINT_HEIGHT = 64, 24
_INKED_CELL = 26  # of 255: a tenth of the cell
_SPREADS_IN_BOX = 2.0  # the box reaches this many standard deviations of the ink from its mean, along each axis
_SAMPLES_PER_CELL = 4
# Share of the (one cell grown) inked cells two prints may differ in and still be one signature copied: a first sieve.
# Measured on drawn signatures: copies differ in up to 0.15; people's signatures in 0.5 or more; but the same person
# signing a short name again with a thick finger pen in as little as 0.11 (a probe: 0.127 for two Chinese
# characters), so what passes the sieve is told by the strokes' density (below).
COPY_MAX_DIFFERENCE = 0.25
# The strokes' ink density over their box, 128 x 48 cells blurred by one cell, and how alike two must be (Pearson
# correlation) to be one signature copied. Measured: copies (re-saved, resized to 30-95%, greyed, blurred, JPEG 40,
# padded) 0.949 or more; the same person signing again 0.912 at most, thick pens and short names included.
DENSITY_WIDTH, DENSITY_HEIGHT = 128, 48
_DENSITY_BLUR = 1.0
COPY_MIN_LIKENESS = 0.94

_ALL = (1 << (PRINT_WIDTH * PRINT_HEIGHT)) - 1
_FIRST_COLUMN = sum(1 << (row * PRINT_WIDTH) for row in range(PRINT_HEIGHT))
_LAST_COLUMN = _FIRST_COLUMN << (PRINT_WIDTH - 1)


def ink_print(ink: Image.Image) -> str | None:
    """The print of an ink mask (strokes 255, pad 0) as hex, cell (row, column) at bit row * 64 + column; None
    when there is no ink."""
    cells = _strokes_cells(ink, PRINT_WIDTH, PRINT_HEIGHT)
    if cells is None:
        return None
    value = int("".join("1" if level >= _INKED_CELL else "0" for level in reversed(cells.tobytes())), 2)
    return f"{value:0{PRINT_WIDTH * PRINT_HEIGHT // 4}x}"


def ink_density(ink: Image.Image) -> bytes | None:
    """The strokes' ink over their box (as the print places them), 128 x 48 grey cells, blurred by one cell; None
    when there is no ink."""
    cells = _strokes_cells(ink, DENSITY_WIDTH, DENSITY_HEIGHT)
    return None if cells is None else cells.filter(ImageFilter.GaussianBlur(_DENSITY_BLUR)).tobytes()


def _strokes_cells(ink: Image.Image, width: int, height: int) -> Image.Image | None:
    """The ink over the strokes' box, averaged into width x height cells; None when there is no ink."""
    box = _strokes_box(ink)
    if box is None:
        return None
    magnified = (width * _SAMPLES_PER_CELL, height * _SAMPLES_PER_CELL)
    strokes = ink.transform(magnified, Image.Transform.EXTENT, box, Image.Resampling.BILINEAR)
    return strokes.resize((width, height), Image.Resampling.BOX)


def density_likeness(density_a: bytes, density_b: bytes) -> float:
    """Pearson correlation of two ink densities: 1 for the same strokes, lower as strokes move apart."""
    count = len(density_a)
    mean_a, mean_b = sum(density_a) / count, sum(density_b) / count
    spread_a = math.sqrt(sum((a - mean_a) ** 2 for a in density_a))
    spread_b = math.sqrt(sum((b - mean_b) ** 2 for b in density_b))
    if not spread_a or not spread_b:
        return 0.0
    return sum((a - mean_a) * (b - mean_b) for a, b in zip(density_a, density_b)) / (spread_a * spread_b)


def print_difference(print_a: str, print_b: str) -> float:
    """Share of the inked cells (each grown by one cell, so a stroke a cell aside still meets) of either print that
    the other lacks: 0 for the same strokes, about 1 for unrelated ones."""
    grown_a, grown_b = _grown(int(print_a, 16)), _grown(int(print_b, 16))
    either = (grown_a | grown_b).bit_count()
    return (grown_a ^ grown_b).bit_count() / either if either else 0.0


def _grown(cells: int) -> int:
    """Every inked cell and its eight neighbours."""
    across = cells | ((cells & ~_LAST_COLUMN) << 1) | ((cells & ~_FIRST_COLUMN) >> 1)
    return (across | (across << PRINT_WIDTH) | (across >> PRINT_WIDTH)) & _ALL


def _strokes_box(ink: Image.Image) -> tuple[float, float, float, float] | None:
    """The strokes' extent from their ink's mean and spread along each axis, which resizing, re-encoding or a stray
    dot barely move (unlike the outermost ink, which a pen's width or one pixel does)."""
    width, height = ink.size
    weights = ink.convert("F")
    across = weighted_moments(weights.resize((width, 1), Image.Resampling.BOX).get_flattened_data())
    down = weighted_moments(weights.resize((1, height), Image.Resampling.BOX).get_flattened_data())
    if across is None or down is None:
        return None
    # Pixel centres lie half a pixel in from their edges.
    (x, x_variance), (y, y_variance) = (across[0] + 0.5, across[1]), (down[0] + 0.5, down[1])
    reach_x = max(math.sqrt(x_variance), 0.5) * _SPREADS_IN_BOX
    reach_y = max(math.sqrt(y_variance), 0.5) * _SPREADS_IN_BOX
    return x - reach_x, y - reach_y, x + reach_x, y + reach_y


def weighted_moments(weights: Iterable[float]) -> tuple[float, float] | None:
    """Mean and variance of the positions 0, 1, 2 ... weighted by `weights`; None when they weigh nothing."""
    total = first = second = 0.0
    for position, weight in enumerate(weights):
        total += weight
        first += position * weight
        second += position * position * weight
    if not total:
        return None
    mean = first / total
    return mean, max(second / total - mean * mean, 0.0)


class DensityMemory:
    """The ink densities of stored signatures, by their files' hashes, the `size` last used. A file's density never
    changes, and measuring it again decodes the file (50 to 130 ms): every new signature of a customer who signs often
    did so for each of their earlier ones with alike prints, one upload at a time (a probe: uploads took seconds)."""

    def __init__(self, size: int):
        self._size = size
        self._densities: OrderedDict[str, bytes] = OrderedDict()

    def get(self, sha256: str) -> bytes | None:
        density = self._densities.get(sha256)
        if density is not None:
            self._densities.move_to_end(sha256)
        return density

    def keep(self, sha256: str, density: bytes) -> None:
        self._densities[sha256] = density
        self._densities.move_to_end(sha256)
        if len(self._densities) > self._size:
            self._densities.popitem(last=False)
