"""Text folding for search: the same function prepares stored text and queries."""

import functools
import unicodedata


def fold(value: str) -> str:
    """Lower-case and strip accents, for every script: "Müller" and "MULLER" both give "muller".

    Python does this rather than the database because SQLite's lower() only knows ASCII and
    PostgreSQL's depends on the cluster's locale.
    """
    if value.isascii():
        # Nothing to strip, and casefold() is lower() for ASCII: the common case, made cheap
        # (imports fold every name they write).
        return value.lower()
    stripped = unicodedata.normalize("NFKD", value).translate(_nonspacing_marks())
    return unicodedata.normalize("NFC", stripped).casefold()


# Where Unicode puts characters that can be marks: planes 0 to 3 and the supplementary special
# plane 14 (variation selectors). Planes 4 to 13 are unassigned and 15 and 16 are for private
# use, so looking there (three quarters of all code points) finds nothing.
MARK_PLANES = (range(0x40000), range(0xE0000, 0xF0000))


def fold_prepare() -> None:
    """Build now what fold() builds on its first non-ASCII text (about 0.1 s): before a fork,
    so that both processes share it."""
    _nonspacing_marks()


@functools.cache
def _nonspacing_marks() -> dict[int, None]:
    # str.translate drops them in C; a Python loop over every character cost imports of
    # non-Latin names a fifth of their parsing time. Built on first use (about 0.1 s).
    return {
        code: None
        for plane in MARK_PLANES
        for code in plane
        if unicodedata.category(chr(code)) == "Mn"
    }


def search_terms(query: str, *, limit: int = 6) -> list[str]:
    """Split a search box entry into folded terms (at most `limit`, to bound the query)."""
    # NUL cannot be sent to PostgreSQL; nobody searches for it.
    return [term for term in fold(query.replace("\x00", "")).split() if term][:limit]
