"""The NATO member states, the campaign's reference for coverage (crm/data/nato_members.csv)."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

DATA_FILE = Path(__file__).with_name("data") / "nato_members.csv"


@dataclass(frozen=True)
class MemberState:
    code: str
    name: str
    accession_year: int


@functools.cache
def member_states() -> tuple[MemberState, ...]:
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        return tuple(
            MemberState(
                code=row["iso2"], name=row["name"], accession_year=int(row["accession_year"])
            )
            for row in csv.DictReader(handle)
        )


def member_codes() -> frozenset[str]:
    return frozenset(state.code for state in member_states())


def is_member(country_code: str) -> bool:
    return country_code.upper() in member_codes()
