"""Folding: what search and import matching compare names by."""

from __future__ import annotations

import sys
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from crm.text import _nonspacing_marks, fold, fold_prepare


def _fold_by_definition(value: str) -> str:
    # The rule written out character by character: decompose, drop the non-spacing marks
    # (accents), recompose, case-fold.
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", stripped).casefold()


def test_it_strips_accents_and_case_in_every_script():
    assert fold("Müller") == fold("MULLER") == "muller"
    assert fold("Dvořák") == "dvorak"
    assert fold("ΕΛΈΝΗ Οικονόμου") == "ελενη οικονομου"
    assert fold("Ｍüller ﬁ") == "muller fi"
    assert fold("Straße") == "strasse"


@given(st.text())
def test_it_folds_any_text_as_the_definition_says(value):
    assert fold(value) == _fold_by_definition(value)


def test_it_knows_every_nonspacing_mark_of_this_python():
    # The table looks only where Unicode places marks; a Unicode version that put one elsewhere
    # would be caught here.
    every = {code for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Mn"}
    assert set(_nonspacing_marks()) == every


def test_it_builds_the_table_of_marks_before_it_is_asked_to_fold():
    _nonspacing_marks.cache_clear()
    fold_prepare()
    assert _nonspacing_marks.cache_info().currsize == 1
