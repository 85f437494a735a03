"""Chart geometry for the report, drawn as SVG by the templates (templates/outreach/reports/).

Charts are server-rendered: no script to load, nothing for the Content-Security-Policy to allow,
and they print as they show. Every chart sits beside the table of the same figures, which is what
screen readers and exports use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from outreach.reports import POSITIONS, Tally


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    length: float  # percent of the chart's width, the largest count filling it


@dataclass(frozen=True)
class Column:
    label: str
    count: int
    x: int
    y: float  # percent from the top
    height: float  # percent of the chart's height


@dataclass(frozen=True)
class Segment:
    position: str
    count: int
    x: float
    width: float


@dataclass(frozen=True)
class Stack:
    label: str
    total: int
    segments: list[Segment]


def bars(rows: Sequence[Tally], *, limit: int = 12) -> list[Bar]:
    shown = list(rows[:limit])
    top = max((row.count for row in shown), default=0) or 1
    return [Bar(row.label, row.count, round(100 * row.count / top, 2)) for row in shown]


def _every_month(rows: Sequence[Tally]) -> list[Tally]:
    """The months from the first to the last, a month without consultations shown as zero: a
    gap in a time line must look like one."""
    if not rows:
        return []
    counts = {row.key: row for row in rows}
    year, month = map(int, rows[0].key.split("-"))
    last = rows[-1].key
    filled = []
    while True:
        key = f"{year:04d}-{month:02d}"
        filled.append(counts.get(key, Tally(key=key, label=key, count=0)))
        if key >= last:
            return filled
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def columns(rows: Sequence[Tally]) -> list[Column]:
    """Month by month (keys YYYY-MM in order), missing months drawn as empty."""
    rows = _every_month(rows)
    top = max((row.count for row in rows), default=0) or 1
    made = []
    for index, row in enumerate(rows):
        height = round(100 * row.count / top, 2)
        made.append(Column(row.label, row.count, index * 10, round(100 - height, 2), height))
    return made


def stacks(
    positions_by_country: Mapping[str, Mapping[str, int]], labels: Mapping[str, str]
) -> list[Stack]:
    """One bar per country split by position, each as a share of that country's consultations."""
    made = []
    for code, counts in positions_by_country.items():
        total = sum(counts.values())
        if not total:
            continue
        x = 0.0
        segments = []
        for position in POSITIONS:
            count = counts.get(position, 0)
            width = round(100 * count / total, 2)
            if count:
                segments.append(Segment(position, count, round(x, 2), width))
            x += width
        made.append(Stack(labels.get(code, code), total, segments))
    return sorted(made, key=lambda stack: (-stack.total, stack.label))
