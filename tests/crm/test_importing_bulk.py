"""The importer's bulk statements: arrays of keys sent to PostgreSQL as one text literal."""

from __future__ import annotations

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from crm.importing import bulk

TRICKY = ["", "NULL", "null", 'a"b', "a\\b", "{a,b}", " spaced ", "x,y", "Ελένη", "'; DROP", "\\"]


def _round_trip(values: list) -> list:
    """The values (sent the way psycopg adapts a list) that our literal says are wanted."""
    condition, params = bulk.one_of("wanted", values)
    kind = "bigint" if values and all(type(v) is int for v in values) else "text"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT wanted FROM unnest(%s::{kind}[]) WITH ORDINALITY AS t(wanted, n) "
            f"WHERE {condition} ORDER BY n",
            [values, *params],
        )
        return [row[0] for row in cursor.fetchall()]


def test_it_matches_text_exactly_whatever_it_holds(postgres):
    assert _round_trip(TRICKY) == TRICKY
    condition, params = bulk.one_of("wanted", ["NULL", 'a"b'])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM (SELECT 'a'::text AS wanted) AS t WHERE {condition}", params)
        assert cursor.fetchall() == []  # a missing value matches nothing


def test_it_sends_whole_numbers_as_a_bigint_array(postgres):
    assert bulk.array_literal([3, 1, 2**40]) == ("{3,1,1099511627776}", "bigint[]")
    assert bulk.array_literal([None]) == ("{NULL}", "bigint[]")
    assert _round_trip([5, 2**40]) == [5, 2**40]
    condition, params = bulk.one_of("wanted", [None])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM (SELECT 1::bigint AS wanted) AS t WHERE {condition}", params)
        assert cursor.fetchall() == []


@pytest.mark.usefixtures("postgres")
@given(
    st.lists(
        # What a decoded file can hold: no NUL (refused earlier), no lone surrogates.
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
            max_size=20,
        )
    )
)
def test_it_round_trips_any_text(values):
    assert _round_trip(values) == values
