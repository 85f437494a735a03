"""The importer's bulk statements: arrays of keys sent to PostgreSQL as one text literal."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

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


def _estimated_contacts() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'crm_contact'")
        return cursor.fetchone()[0]


@pytest.mark.services
def test_it_analyzes_the_tables_an_import_changed_by_a_tenth_or_more(postgres):
    from crm.models import Contact

    def add(count: int, start: int) -> None:
        Contact.objects.bulk_create(
            Contact(first_name="Ana", last_name=f"Silva-{start + n}") for n in range(count)
        )

    # ANALYZE writes the table's size in place, and a rollback keeps it: from an earlier test, or
    # -1 if the table was never analyzed. Made known first.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_contact")
    assert _estimated_contacts() == 0
    add(49, 0)
    assert not bulk.analyze_if_changed(Contact, 49, [])  # fewer than 50: left to autovacuum
    add(251, 49)
    assert bulk.analyze_if_changed(Contact, 251, [])
    assert _estimated_contacts() == 300
    # 50 + a tenth of 300 is 80: 79 changed rows are not enough, 80 are.
    add(79, 300)
    assert not bulk.analyze_if_changed(Contact, 79, [])
    assert _estimated_contacts() == 300
    assert bulk.analyze_if_changed(Contact, 80, [])
    assert _estimated_contacts() == 379


@pytest.mark.services
def test_it_leaves_the_import_as_it_was_when_the_analysis_fails(postgres, caplog):
    from crm.models import Contact

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_contact")
    Contact.objects.bulk_create(
        Contact(first_name="Ana", last_name=f"Silva-{n}") for n in range(60)
    )
    missing = cast(Any, SimpleNamespace(_meta=SimpleNamespace(db_table="no_such_table")))
    assert bulk.analyze_if_changed(Contact, 60, [missing])
    assert "could not analyze" in caplog.text
    # The failed statement was undone alone: the transaction and its rows go on.
    assert Contact.objects.count() == 60
    assert _estimated_contacts() == 0
