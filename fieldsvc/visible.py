"""Whether text shows anything: spaces, and characters drawn as nothing, say nothing."""

from __future__ import annotations

import re

# Characters a screen draws as nothing, or as nothing alone, that Python does not count as space: control and format
# characters (zero-width spaces and joiners, direction marks, embeddings and isolates, the word joiner and invisible
# operators, the byte-order mark, the soft hyphen, interlinear annotation marks, tags), variation selectors, combining
# marks (drawn on a letter, none here), the braille blank, the Hangul fillers and the private use areas (no font
# draws them for everyone). Characters beyond the first plane are written as themselves, as a schema pattern reads.
_DRAWN_AS_NOTHING = (
    r"\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    r"\u2800\u3164\ufe00-\ufe0f\ufe20-\ufe2f\ufeff\uffa0\ufff9-\ufffb\ue000-\uf8ff"
    r"\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f\U000e0100-\U000e01ef\U000f0000-\U0010ffff"
)
VISIBLE_CHARACTER = rf"[^\s{_DRAWN_AS_NOTHING}]"  # a pattern the API's schema can carry too
_SHOWS = re.compile(VISIBLE_CHARACTER)


def shows_text(text: str) -> bool:
    return _SHOWS.search(text) is not None


def names_someone(text: str) -> bool:
    """A person's name has a letter, of any script (李, Li): "." or "-" to get past the form names no one."""
    return any(character.isalpha() for character in text)
