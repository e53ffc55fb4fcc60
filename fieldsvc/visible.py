"""Whether text shows anything: spaces, and characters drawn as nothing, say nothing."""

from __future__ import annotations

import re

# Characters a screen draws as nothing that Python does not count as space: zero-width spaces and joiners, direction
# marks, the word joiner and invisible operators, the byte-order mark, the soft hyphen, the combining grapheme joiner,
# the Mongolian vowel separator, the braille blank and the Hangul fillers.
_DRAWN_AS_NOTHING = r"\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u034f\u180e\u2800\u3164\u115f\u1160\uffa0"
VISIBLE_CHARACTER = rf"[^\s{_DRAWN_AS_NOTHING}]"  # a pattern the API's schema can carry too
_SHOWS = re.compile(VISIBLE_CHARACTER)


def shows_text(text: str) -> bool:
    return _SHOWS.search(text) is not None
