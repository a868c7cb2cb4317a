"""Text from outside (feeds, pages, HTTP status lines and reason phrases, servers' error messages) made safe to
store, log and print: C0 and C1 control characters, DEL, NUL and Unicode bidi overrides, embeddings and isolates
removed, so a feed cannot move a terminal's cursor, recolour it, retitle it or reorder what an analyst reads.

Pure: no I/O.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls; bidi embeddings/overrides (U+202A-U+202E) and isolates
# (U+2066-U+2069). Left-to-right/right-to-left marks (U+200E/U+200F) stay: they only hint, they do not reorder.
_BIDI = "\u202a-\u202e\u2066-\u2069"
_UNSAFE_IN_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_UNSAFE_IN_A_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x85]")  # CR LF, CR, vertical tab, form feed, NEL: newlines
_WHITESPACE_CONTROLS = re.compile("[\t\n\r\x0b\x0c\x85]")


def clean_text(value: str) -> str:
    """`value` with its lines kept (newline and tab; CR, CRLF, VT, FF and NEL become newlines), every other control
    character, NUL and bidi override removed. For article text and multi-line messages."""
    if value.isascii() and value.isprintable():  # the common case, without a regex pass
        return value
    return _UNSAFE_IN_LINES.sub("", _LINE_BREAKS.sub("\n", value))


def clean_line(value: str) -> str:
    """`value` as one line: tabs and line breaks become spaces, every other control character, NUL and bidi
    override removed. For titles, URLs, header values, reason phrases and error details."""
    if value.isascii() and value.isprintable():
        return value
    return _UNSAFE_IN_A_LINE.sub("", _WHITESPACE_CONTROLS.sub(" ", value))

