"""E-REUSE: how far a picture is from the best crop of another (a copy cut a little at its edges to pass as new)."""

from __future__ import annotations

import itertools

from PIL import Image, ImageChops, ImageOps, ImageStat

# The reuse miniature every accepted photo stores (imaging.REUSE_MINIATURE_EDGE): grey, this many pixels square.
MINIATURE_EDGE = 72
# A crop of a few per cent moves every gradient of the fine hash (a 1% cut: 13 to 35 of its 256 bits, as many as a
# different photo of the same kind of scene), so the crop is found instead: each edge of one picture is moved in by
# up to this many miniature pixels (15%) until it looks most like the other, compared as views of this size.
_MOST_CUT = 10.5
_VIEW_EDGE = 32
_FIRST_CUTS = (0.0, 3.5, 7.0, 10.5)  # tried on every edge at once, then the best is walked to its neighbours
_FINER_STEPS = (1.75, 0.875, 0.4375)


def miniature_image(miniature: bytes) -> Image.Image:
    return Image.frombytes("L", (MINIATURE_EDGE, MINIATURE_EDGE), miniature)


def difference_after_best_crop(first: Image.Image, second: Image.Image) -> float:
    """The mean grey-level difference (0 to 255) between the two pictures once the crop of either that best matches
    the other is taken (either may be the copy). Each is histogram-equalised first, so brightness or contrast changed
    with the crop does not count. A cropped, re-encoded or brightened copy measures under 15 (synthetic scenes and
    shoe-cover shots cut by up to 8% on any sides); look-alikes from different places 32 or more; the same place
    photographed again by hand, 2.5 to 19, like a copy (a probe)."""
    first, second = ImageOps.equalize(first), ImageOps.equalize(second)
    return min(_best_crop(first, second), _best_crop(second, first))


def _best_crop(larger: Image.Image, copy: Image.Image) -> float:
    view_size, edge = (_VIEW_EDGE, _VIEW_EDGE), MINIATURE_EDGE
    target = copy.resize(view_size, Image.Resampling.BOX)

    def difference(cuts: tuple[float, float, float, float]) -> float:
        left, top, right, bottom = cuts
        view = larger.resize(view_size, Image.Resampling.BOX, box=(left, top, edge - right, edge - bottom))
        return ImageStat.Stat(ImageChops.difference(view, target)).mean[0]

    least, cuts = min((difference(start), start) for start in itertools.product(_FIRST_CUTS, repeat=4))
    for step in _FINER_STEPS:
        moved = True
        while moved:
            moved = False
            for side, direction in itertools.product(range(4), (-step, step)):
                tried = tuple(cut + direction if index == side else cut for index, cut in enumerate(cuts))
                if 0 <= tried[side] <= _MOST_CUT and (measured := difference(tried)) < least:
                    least, cuts, moved = measured, tried, True
    return least
