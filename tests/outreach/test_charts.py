"""Chart geometry: bars scaled to the largest, months without consultations drawn as empty."""

from __future__ import annotations

from outreach import charts
from outreach.reports import Tally


def _tally(key: str, count: int) -> Tally:
    return Tally(key=key, label=key, count=count)


def test_it_draws_every_month_between_the_first_and_the_last():
    drawn = charts.columns([_tally("2025-11", 4), _tally("2026-02", 2)])
    assert [(column.label, column.count) for column in drawn] == [
        ("2025-11", 4),
        ("2025-12", 0),
        ("2026-01", 0),
        ("2026-02", 2),
    ]
    assert [column.x for column in drawn] == [0, 10, 20, 30]
    assert (drawn[0].height, drawn[0].y) == (100.0, 0.0)
    assert (drawn[3].height, drawn[3].y) == (50.0, 50.0)
    assert charts.columns([]) == []


def test_it_scales_bars_to_the_largest_and_keeps_the_first_ones():
    rows = [_tally(str(n), 20 - n) for n in range(15)]
    drawn = charts.bars(rows, limit=3)
    assert [(bar.label, bar.length) for bar in drawn] == [("0", 100.0), ("1", 95.0), ("2", 90.0)]
    assert charts.bars([_tally("none", 0)]) == [charts.Bar("none", 0, 0.0)]


def test_it_splits_each_country_by_position_in_shares():
    stacks = charts.stacks(
        {"PL": {"support": 3, "opposed": 1}, "DE": {"neutral": 1}, "FR": {}},
        {"PL": "Poland", "DE": "Germany"},
    )
    assert [(stack.label, stack.total) for stack in stacks] == [("Poland", 4), ("Germany", 1)]
    poland = stacks[0].segments
    assert [(s.position, s.x, s.width) for s in poland] == [
        ("support", 0.0, 75.0),
        ("opposed", 75.0, 25.0),
    ]
